extension UAPI {
    /// Renders a UAPI request or reply as text for debugging, with the value of every
    /// `private_key=` and `preshared_key=` line replaced by `(redacted)`. Safe to log.
    public static func redacted(_ message: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        for line in message.split(separator: newline, omittingEmptySubsequences: false) {
            if let secret = secretKeys.first(where: { line.starts(with: $0) }) {
                out += secret
                out += Array("(redacted)".utf8)
            } else {
                out += line
            }
            out.append(newline)
        }
        out.removeLast()
        return String(decoding: out, as: UTF8.self)
    }

    private static let secretKeys = [Array("private_key=".utf8), Array("preshared_key=".utf8)]
}
