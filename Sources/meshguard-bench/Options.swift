/// Command-line options: `--peers N` (default 5000), `--runs N` (default 3).
struct Options {
    var peers = 5000
    var runs = 3

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard flag == "--peers" || flag == "--runs" else {
                if flag == "--help" || flag == "-h" { throw BenchError("usage: meshguard-bench [--peers N] [--runs N]") }
                throw BenchError("unknown option \(flag); usage: meshguard-bench [--peers N] [--runs N]")
            }
            guard let text = rest.popFirst(), let value = Int(text), value > 0 else {
                throw BenchError("\(flag) needs a positive number")
            }
            if flag == "--peers" {
                guard value <= 65_000 else { throw BenchError("--peers is at most 65000 (one address plan per peer)") }
                peers = value
            } else {
                runs = value
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

