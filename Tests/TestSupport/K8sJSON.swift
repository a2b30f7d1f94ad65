/// Kubernetes JSON the scripted API answers with.
public enum K8sJSON {
    public static func service(_ name: String, ip: String, port: Int = 80, rv: String, label: String = "") -> String {
        #"{"kind":"Service","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"flowmaster","resourceVersion":"\#(rv)","labels":{"l":"\#(label)"}},"#
            + #""spec":{"type":"ClusterIP","clusterIP":"\#(ip)","clusterIPs":["\#(ip)"],"ports":[{"name":"http","protocol":"TCP","port":\#(port),"targetPort":8080}]},"status":{"loadBalancer":{}}}"#
    }
    public static func list(rv: String, _ services: [(String, String)]) -> String {
        let items = services.map { service($0.0, ip: $0.1, rv: rv) }.joined(separator: ",")
        return #"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"\#(rv)"},"items":[\#(items)]}"#
    }
    public static func event(_ type: String, _ name: String, ip: String, rv: String, label: String = "") -> String {
        #"{"type":"\#(type)","object":\#(service(name, ip: ip, rv: rv, label: label))}"#
    }
    public static func bookmark(rv: String) -> String {
        #"{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"\#(rv)"},"spec":{},"status":{"loadBalancer":{}}}}"#
    }
    public static func error(code: Int, reason: String, message: String) -> String {
        #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\#(message)","reason":"\#(reason)","code":\#(code)}}"#
    }
}
