import Foundation
import MeshCore
import MeshCrypto
import Testing

@Suite struct KeyFileTests {
    @Test func createsDirectoryAndFilePrivatelyAndReusesTheKey() throws {
        try withTemporaryDirectory { root in
            let state = root + "/state"
            let first = try KeyFile.loadOrCreate(stateDirectory: state)
            let path = KeyFile.path(inStateDirectory: state)
            #expect(fileMode(state) == 0o700)
            #expect(fileMode(path) == 0o600)

            let contents = try #require(readFile(path))
            #expect(contents.count == 45)
            #expect(contents.last == UInt8(ascii: "\n"))
            let stored = KeyEncoding.withBase64(of: first) { Array($0) }
            #expect(Array(contents.prefix(44)) == stored, "the file holds the key in base64")

            let second = try KeyFile.loadOrCreate(stateDirectory: state)
            #expect(second == first)
            #expect(KeyGeneration.publicKey(for: second) == KeyGeneration.publicKey(for: first))
            #expect(readFile(path) == contents, "loading must not rewrite the file")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: state)
            #expect(leftovers == [KeyFile.fileName], "no temporary files remain")
        }
    }

    @Test(.enabled(if: hasWg, "needs wg(8) from wireguard-tools"))
    func fileIsReadableByWgPubkeyAndWgGenkeyFilesAreAccepted() throws {
        try withTemporaryDirectory { root in
            let key = try KeyFile.loadOrCreate(stateDirectory: root)
            let path = KeyFile.path(inStateDirectory: root)
            let printed = try shell("wg pubkey < '\(path)'")
            #expect(printed == KeyGeneration.publicKey(for: key).base64)

            // And the other way round: a key file written by wg genkey is used as it is.
            let other = root + "/other"
            try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
            let otherPath = KeyFile.path(inStateDirectory: other)
            _ = try shell("umask 077; wg genkey > '\(otherPath)'")
            let expected = try shell("wg pubkey < '\(otherPath)'")
            let loaded = try KeyFile.loadOrCreate(stateDirectory: other)
            #expect(KeyGeneration.publicKey(for: loaded).base64 == expected)
        }
    }

    @Test func concurrentCallersAllGetTheOneKeyThatWasStored() async throws {
        try await withTemporaryDirectoryAsync { root in
            let state = root + "/state"
            let keys = try await withThrowingTaskGroup(of: PublicKey.self) { group in
                for _ in 0..<16 {
                    group.addTask { KeyGeneration.publicKey(for: try KeyFile.loadOrCreate(stateDirectory: state)) }
                }
                return try await group.reduce(into: Set<PublicKey>()) { $0.insert($1) }
            }
            #expect(keys.count == 1)
            let stored = try #require(try KeyFile.load(path: KeyFile.path(inStateDirectory: state)))
            #expect(keys == [KeyGeneration.publicKey(for: stored)])
        }
    }

    @Test func missingFileLoadsAsNil() throws {
        try withTemporaryDirectory { root in
            let loaded = try KeyFile.load(path: root + "/absent.key")
            #expect(loaded == nil)
        }
    }

    @Test func missingParentDirectoryIsAnError() throws {
        try withTemporaryDirectory { root in
            let error = try #require(throws: MeshError.self) {
                try KeyFile.loadOrCreate(stateDirectory: root + "/no/such/dir")
            }
            #expect(error.message.contains(root + "/no/such/dir"))
        }
    }

    enum BadFile: String, CaseIterable, CustomTestStringConvertible {
        case groupAndWorldReadable, groupReadable, symlink, dangling, thirtyOneBytes, thirtyThreeBytes
        case notBase64, empty, twoKeys, directory

        var testDescription: String { rawValue }

        /// Puts the bad thing at `path`; `validKey` is the text of a real key where one is needed.
        func make(at path: String, root: String, validKey: String) throws {
            switch self {
            case .groupAndWorldReadable: try writeFile(path, validKey + "\n", mode: 0o644)
            case .groupReadable: try writeFile(path, validKey + "\n", mode: 0o640)
            case .symlink:
                try writeFile(root + "/real.key", validKey + "\n")
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: root + "/real.key")
            case .dangling:
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: root + "/nowhere")
            case .thirtyOneBytes: try writeFile(path, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==\n")
            case .thirtyThreeBytes: try writeFile(path, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAh\n")
            case .notBase64: try writeFile(path, "this is not a key; it is forty-four chars!!!\n")
            case .empty: try writeFile(path, "")
            case .twoKeys: try writeFile(path, validKey + "\n" + validKey + "\n")
            case .directory: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            }
        }

        var expectedCode: MeshError.Code {
            switch self {
            case .groupAndWorldReadable, .groupReadable: .permissionDenied
            case .symlink, .dangling, .directory: .invalidArgument
            case .thirtyOneBytes, .thirtyThreeBytes, .notBase64, .empty, .twoKeys: .invalidKey
            }
        }
    }

    @Test(arguments: BadFile.allCases)
    func refusesAndNeverRepairsABadKeyFile(_ bad: BadFile) throws {
        try withTemporaryDirectory { root in
            let validKey = KeyEncoding.withBase64(of: KeyGeneration.generatePrivateKey()) {
                String(decoding: $0, as: UTF8.self)
            }
            let path = KeyFile.path(inStateDirectory: root)
            try bad.make(at: path, root: root, validKey: validKey)
            let before = readFile(path)
            let modeBefore = fileMode(path)

            let error = try #require(throws: MeshError.self) { try KeyFile.loadOrCreate(stateDirectory: root) }
            #expect(error.code == bad.expectedCode)
            #expect(error.message.contains(path), "the error names the file")
            #expect(!error.description.contains(validKey), "the error must never contain the key")
            #expect(!error.description.contains(String(validKey.prefix(12))), "not even part of it")

            #expect(readFile(path) == before, "the file is left as it was")
            #expect(fileMode(path) == modeBefore)
        }
    }
}

func withTemporaryDirectoryAsync<R>(_ body: (String) async throws -> R) async throws -> R {
    var template = Array("\(NSTemporaryDirectory())/meshguard-crypto-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func shell(_ script: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
