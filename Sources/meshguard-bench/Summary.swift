import Foundation

/// The figures one benchmark produced, as labelled rows under a title.
struct Summary {
    var title: String
    var rows: [(label: String, value: String)] = []

    init(_ title: String) { self.title = title }

    mutating func add(_ label: String, _ value: String) { rows.append((label, value)) }
}

/// Prints the sections as one aligned two-column table.
func printTable(_ sections: [Summary]) {
    let width = sections.flatMap { $0.rows.map(\.label.count) }.max() ?? 0
    let rule = String(repeating: "-", count: width + 24)
    print("")
    print(rule)
    for section in sections {
        print("\(section.title)")
        for (label, value) in section.rows {
            print("  " + label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        print(rule)
    }
}
