import Foundation
public import MeshCore

/// JSON for datastore records: sorted keys so that equal records are equal bytes (writers
/// compare bytes to skip no-op writes), and decode errors that say what was wrong.
public enum RecordCodec {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own Codable structs cannot fail: no floats that are NaN, no custom throws.
        return Array(try! encoder.encode(value))
    }

    /// Decodes `bytes` as `T`. Throws `MeshError(.invalidRecord)` naming `key` and the problem.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], key: String) throws(MeshError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw MeshError(.invalidRecord, "\(key): \(describe(error))")
        } catch {
            throw MeshError(.invalidRecord, "\(key): \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let context):
            return "not valid JSON\(path(context))"
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(path(context))"
        case .typeMismatch(let type, let context):
            return "wrong type\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "null\(path(context)) where \(type) is required"
        @unknown default:
            return "undecodable"
        }
    }
}

extension ClaimInput {
    /// Builds a ``ClaimInput`` from a raw `claims/<node>` entry; a value that does not decode
    /// becomes a rejection with the decoder's reason, not an error.
    public static func from(_ kv: KeyValue, node: NodeName) -> ClaimInput {
        let record: Result<ClaimRecord, ClaimRejection>
        do {
            record = .success(try RecordCodec.decode(ClaimRecord.self, from: kv.value, key: kv.key))
        } catch {
            record = .failure(ClaimRejection(reasons: ["the claim does not decode: \(error.message)"]))
        }
        return ClaimInput(node: node, record: record, modRevision: kv.modRevision, createRevision: kv.createRevision)
    }
}
