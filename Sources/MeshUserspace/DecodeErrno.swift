import Glibc
import MeshCore

extension UAPI {
    /// Checks the reply to a `set=1` request: exactly `errno=N` and a blank line.
    ///
    /// wireguard-go writes negative numbers (`errno=-22`), boringtun positive ones; both are
    /// accepted. Zero returns normally.
    ///
    /// - Throws: `.backendFailure` naming the error when N is not zero, e.g. for `errno=-22`
    ///   "wireguard-go rejected the configuration: Invalid argument (errno 22)", with
    ///   ``MeshError/errno`` set to 22. `.backendFailure` when the reply is not of that form.
    public static func decodeSetReply(_ reply: [UInt8]) throws(MeshError) {
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasSuffix("\n\n") else {
            throw malformed("the reply to set=1 does not end with a blank line: '\(shown(text))'")
        }
        let line = text.dropLast(2)
        guard line.hasPrefix("errno="), !line.contains("\n") else {
            throw malformed("the reply to set=1 is not a single errno= line: '\(shown(text))'")
        }
        let number = try errnoValue(line.dropFirst("errno=".count))
        if number != 0 {
            throw MeshError(.backendFailure, "wireguard-go rejected the configuration: \(errnoName(number))",
                            errno: number)
        }
    }

    /// Parses the number after `errno=`, either sign, as a positive errno.
    static func errnoValue(_ text: Substring) throws(MeshError) -> Int32 {
        let digits = text.hasPrefix("-") ? text.dropFirst() : text
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int32(digits) else {
            throw malformed("'errno=\(shown(String(text)))' is not a number")
        }
        return value
    }

    /// strerror's text for a positive errno. wireguard-go's catch-all, -55, is ENOANO, whose C
    /// name ("No anode") means nothing to a reader, so it is called what wireguard-go means.
    static func errnoName(_ number: Int32) -> String {
        if number == 55 { return "unknown error" }
        guard let text = strerror(number) else { return "error \(number)" }
        return String(cString: text)
    }

    static func malformed(_ problem: String) -> MeshError {
        MeshError(.backendFailure, "wireguard-go sent a malformed UAPI reply: \(problem)")
    }

    /// Public text cut short for messages.
    static func shown(_ text: String) -> String {
        let flat = text.replacingNewlines()
        return flat.count > 80 ? String(flat.prefix(80)) + "…" : flat
    }
}

private extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" ? "⏎" : $0 })
    }
}
