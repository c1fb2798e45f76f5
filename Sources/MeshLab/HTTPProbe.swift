import Foundation
import Glibc
public import MeshCore

/// A plain HTTP/1.1 response, as far as the probes need it.
public struct HTTPResponse: Sendable {
    public let status: Int
    public let body: String
}

extension Lab {
    /// `GET http://address:port/path` from inside `place`'s network namespace (the socket is
    /// created there, so nothing in the host's namespace is involved). For the agents'
    /// `/healthz`, `/readyz` and `/metrics`.
    public func httpGet(from place: some LabPlace, address: IPAddress, port: UInt16, path: String,
                        timeout: Duration = LabTime.scaled(.seconds(5))) throws(MeshError) -> HTTPResponse {
        guard case .v4(let v4) = address else { throw MeshError(.invalidArgument, "the lab is IPv4 only") }
        let what = "GET http://\(address):\(port)\(path)"
        let fd = try Netns.onThread(in: place.namespace.path) { () throws(MeshError) -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Subprocess.errnoError("\(what): socket") }
            return fd
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = TCPDriver.socketAddress(v4, port)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Subprocess.errnoError("\(what): connect", code: .unavailable) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw Subprocess.errnoError("\(what): send", code: .unavailable)
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { response += buffer[0..<n]; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw Subprocess.errnoError("\(what): receive", code: .unavailable)
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n"),
              let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first, let status = Int(statusText) else {
            throw MeshError(.backendFailure, "\(what): not an HTTP response: \(text.prefix(80))")
        }
        var body = String(text[headerEnd.upperBound...])
        // Hummingbird may answer with chunked encoding: undo it.
        if text[..<headerEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") {
            var decoded = ""
            var rest = Substring(body)
            while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
                let start = lineEnd.upperBound
                let end = rest.utf8.index(start, offsetBy: size, limitedBy: rest.endIndex) ?? rest.endIndex
                decoded += rest[start..<end]
                rest = rest[end...].dropFirst(2)
            }
            body = decoded
        }
        return HTTPResponse(status: status, body: body)
    }
}
