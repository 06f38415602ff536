import Diffusion
import Foundation
import Terminal

/// What went wrong with an A1111-compatible server, or why a request cannot go to it; one line,
/// server text in it already made printable.
public struct A1111Error: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Reading the JSON an A1111-compatible server sends: every value typed by hand, since it is
/// untrusted (`"steps": "20"`, `"seed": true`, `"width": 1e300`, a list where an object was
/// promised). JSONSerialization limits nesting on its own; nothing here recurses. Text that ends
/// up on a terminal goes through `shown`.
enum A1111JSON {
    /// The longest server string kept in a message.
    static let shownLength = 120

    /// A JSON boolean, told apart from `0`/`1` as the metadata reader tells it.
    static func isBoolean(_ value: Any?) -> Bool { MetadataJSON.isBoolean(value) }

    static func bool(_ value: Any?) -> Bool? { MetadataJSON.bool(value) }

    /// A finite number (not a boolean, not text).
    static func number(_ value: Any?) -> Double? {
        guard !isBoolean(value), let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        return double.isFinite ? double : nil
    }

    /// A whole number that fits an Int (`3.0` counts, `3.5`, `1e300`, `true` and `"3"` do not).
    static func integer(_ value: Any?) -> Int? {
        guard !isBoolean(value), let number = value as? NSNumber else { return nil }
        if let exact = Int(exactly: number) { return exact }
        let double = number.doubleValue
        guard double.isFinite, double == double.rounded(), abs(double) < 9.0e15 else { return nil }
        return Int(double)
    }

    /// A seed: a whole number 0...2^64-1 (A1111 seeds are Python ints; sd-server's are int64).
    static func seed(_ value: Any?) -> UInt64? {
        guard !isBoolean(value), let number = value as? NSNumber else { return nil }
        if let exact = UInt64(exactly: number) { return exact }
        guard let whole = integer(value), whole >= 0 else { return nil }
        return UInt64(whole)
    }

    static func string(_ value: Any?) -> String? { value as? String }

    /// `value` as a list of strings, entries of other types skipped; nil when it is not a list.
    static func strings(_ value: Any?) -> [String]? {
        guard let list = value as? [Any] else { return nil }
        return list.compactMap { $0 as? String }
    }

    /// `text` parsed as a JSON object, nil when it is not one.
    static func object(text: String) -> [String: Any]? {
        guard let data = text.data(using: .utf8),
              let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return parsed as? [String: Any]
    }

    /// Server text made safe and short for a one-line message.
    static func shown(_ text: String) -> String {
        let visible = TerminalText.visible(text)
        return visible.count > shownLength ? String(visible.prefix(shownLength)) + "..." : visible
    }

    /// `shown(text)` in double quotes, for a name inside a message.
    static func quoted(_ text: String) -> String { "\"" + shown(text) + "\"" }

    /// The bytes of base64 text (an optional `data:...;base64,` prefix allowed), nil when it is not
    /// base64 or longer than `limit` characters.
    static func base64(_ text: String, limit: Int) -> [UInt8]? {
        guard text.utf8.count <= limit else { return nil }
        var body = Substring(text)
        if body.hasPrefix("data:"), let comma = body.firstIndex(of: ",") { body = body[body.index(after: comma)...] }
        guard let data = Data(base64Encoded: String(body)), !data.isEmpty else { return nil }
        return [UInt8](data)
    }
}
