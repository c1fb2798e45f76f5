import Foundation
import MeshCore
import MeshCrypto

/// A fresh directory under the system temporary directory, removed with everything in it when
/// `body` returns or throws.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("\(NSTemporaryDirectory())/meshguard-crypto-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

func writeFile(_ path: String, _ contents: String, mode: mode_t = 0o600) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
    defer { close(fd) }
    fchmod(fd, mode)
    let bytes = Array(contents.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}

func readFile(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { Array($0) }
}

func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}

/// Runs `wg pubkey` with the private key on its standard input (never in argv) and returns
/// what it prints, without the newline.
func wgPubkey(of key: PrivateKey) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["wg", "pubkey"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    // Write the key text straight from the zeroed-after-use buffer into the pipe.
    let fd = input.fileHandleForWriting.fileDescriptor
    KeyEncoding.withBase64(of: key) { text in
        _ = write(fd, text.baseAddress!, text.count)
    }
    _ = write(fd, "\n", 1)
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Whether `wg` is on PATH.
let hasWg: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "command -v wg >/dev/null"]
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()
