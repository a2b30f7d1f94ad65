/// Every clock the API client keeps, so that no server, network or credential plugin can hold a
/// request for ever. The defaults are far from what a healthy API server needs; tests shrink them.
public struct APITimeouts: Sendable, Equatable {
    /// TCP connect and TLS handshake.
    package var connect: Duration
    /// From the start of a transfer to the end of the response headers (LIST, GET and watch).
    package var headers: Duration
    /// A whole LIST/GET, credential plugin included: `status` and `check` answer within this.
    package var request: Duration
    /// An exec credential plugin is killed, with its process group, after this.
    package var execPlugin: Duration
    /// A watch connection with no byte for this long is dead: TCP keepalive probes the socket after
    /// half of it and gives up after the rest, and a watch on a server that sends bookmarks gets a
    /// read deadline of 1.25 × this (kube-apiserver sends one about every minute).
    package var watchSilence: Duration

    public init(connect: Duration = .seconds(5), headers: Duration = .seconds(15), request: Duration = .seconds(30),
                execPlugin: Duration = .seconds(30), watchSilence: Duration = .seconds(60)) {
        self.connect = connect
        self.headers = headers
        self.request = request
        self.execPlugin = execPlugin
        self.watchSilence = watchSilence
    }

    /// Headers within half the request deadline, as in the defaults (15 s of 30 s): one setting for both.
    public init(request: Duration, execPlugin: Duration = .seconds(30), watchSilence: Duration = .seconds(60)) {
        self.init(headers: request / 2, request: request, execPlugin: execPlugin, watchSilence: watchSilence)
    }

    /// TCP keepalive: the first probe after `idle` of silence, then `probes` probes `interval` apart;
    /// the kernel gives up at idle + probes × interval, kept a little under watchSilence (whole seconds,
    /// at least 1: the kernel's unit; 30 + 3 × 7 = 51 s by default).
    var keepalive: (idle: Int, interval: Int, probes: Int) {
        let seconds = max(2, Int(watchSilence.components.seconds))
        let idle = max(1, seconds / 2)
        let probes = 3
        return (idle, max(1, (seconds - idle) / (probes + 1)), probes)
    }

    /// The read deadline of a watch on a server that has been seen to send bookmarks.
    var bookmarkSilence: Duration { watchSilence * 1.25 }
}
