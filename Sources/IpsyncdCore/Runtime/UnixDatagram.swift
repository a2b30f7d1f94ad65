import Glibc
import Posix

/// Sends datagrams to a unix socket path; `@name` is Linux's abstract namespace (sd_notify's convention).
/// Used by the journal handler and the systemd notifier, which both speak their protocols directly.
final class UnixDatagramSocket: Sendable {
    let path: String
    private let fd: Int32
    private let address: sockaddr_un
    private let addressLength: socklen_t

    init(path: String) throws(ConfigError) {
        guard let (address, length) = Self.makeAddress(path) else {
            throw ConfigError(code: .socket, source: path, message: "unix socket path too long or empty")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw ConfigError(code: .socket, source: path, message: "cannot create a unix datagram socket: \(Posix.lastError())")
        }
        self.path = path
        self.fd = fd
        self.address = address
        self.addressLength = length
    }

    deinit { close(fd) }

    /// One datagram; returns 0 or the errno of the failure (EMSGSIZE when it is too large).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int32 {
        var address = self.address
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { buffer in
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength)
                }
            }
        }
        return sent < 0 ? errno : 0
    }

    /// Sends an empty datagram carrying `passing` as SCM_RIGHTS (journald's way to take large entries).
    @discardableResult
    func send(passing passedFD: Int32) -> Int32 {
        var address = self.address
        // cmsghdr { size_t len; int level; int type; } followed by the int, padded: CMSG_SPACE(4) == 24.
        let headerSize = MemoryLayout<cmsghdr>.size
        var control = [UInt8](repeating: 0, count: headerSize + 8)
        control.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: headerSize + MemoryLayout<Int32>.size, toByteOffset: 0, as: Int.self)
            raw.storeBytes(of: SOL_SOCKET, toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
            raw.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
            raw.storeBytes(of: passedFD, toByteOffset: headerSize, as: Int32.self)
        }
        let sent = withUnsafeMutablePointer(to: &address) { pointer in
            control.withUnsafeMutableBytes { controlBuffer in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(pointer)
                message.msg_namelen = addressLength
                message.msg_control = controlBuffer.baseAddress
                message.msg_controllen = controlBuffer.count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
        }
        return sent < 0 ? errno : 0
    }

    static func makeAddress(_ path: String) -> (sockaddr_un, socklen_t)? {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A filesystem path needs room for its terminating NUL; an abstract name does not have one.
        guard !bytes.isEmpty, bytes.count + (abstract ? 0 : 1) <= capacity else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length = pathOffset + bytes.count + (abstract ? 0 : 1)
        return (address, socklen_t(length))
    }
}
