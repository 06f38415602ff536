import Foundation

/// Reading the JSON other tools write into images: bounded, and typed by hand, since a value
/// can be anything (`"steps": "20"`, `"seed": true`, `"width": 1e300`). JSONSerialization
/// refuses nesting past 512 levels and NaN on its own; the text is refused past
/// `ImageMetadata.maximumLength` first. Nothing here recurses over a document.
public enum MetadataJSON {
    /// `text` parsed as a JSON object; `what` names it in the one-line error.
    static func object(_ text: String, what: String) throws(MetadataError) -> [String: Any] {
        guard text.utf8.count <= ImageMetadata.maximumLength else {
            throw MetadataError("\(what) is \(text.utf8.count / 1024) KB, more than the \(ImageMetadata.maximumLength / 1024) KB stipple reads")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw MetadataError("\(what) is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw MetadataError("\(what) is JSON but not an object") }
        return object
    }

    /// Whether `text` is a JSON object (its first non-space character is `{` and it parses).
    static func isObject(_ text: String) -> Bool {
        guard text.first(where: { !$0.isWhitespace }) == "{" else { return false }
        return (try? object(text, what: "")) != nil
    }

    /// JSON `true`/`false` come as NSNumber on Linux, and `1` also casts to Bool: a boolean is
    /// told apart by its type encoding (`c`).
    public static func isBoolean(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    public static func bool(_ value: Any?) -> Bool? {
        guard isBoolean(value), let number = value as? NSNumber else { return nil }
        return number.boolValue
    }

    /// A finite number (not a boolean); numeric strings count (Fooocus writes some numbers as text).
    public static func number(_ value: Any?) -> Double? {
        if let text = value as? String {
            guard let parsed = Double(text.trimmingCharacters(in: .whitespaces)), parsed.isFinite else { return nil }
            return parsed
        }
        guard !isBoolean(value), let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        return double.isFinite ? double : nil
    }

    /// A whole number as decimal text, exactly (seeds reach 2^64 - 1, past a Double's precision);
    /// nil for fractions, booleans, text that is not a whole number, and magnitudes past 64 bits.
    public static func integerText(_ value: Any?) -> String? {
        if let text = value as? String {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if Int64(trimmed) != nil || UInt64(trimmed) != nil { return trimmed }
            return nil
        }
        guard !isBoolean(value), let number = value as? NSNumber else { return nil }
        switch String(cString: number.objCType) {
        case "d", "f":
            let double = number.doubleValue
            guard double.isFinite, double == double.rounded(), let whole = Int64(exactly: double) else { return nil }
            return String(whole)
        default:
            let text = number.stringValue
            return Int64(text) != nil || UInt64(text) != nil ? text : nil
        }
    }

    /// A whole number that fits an Int.
    public static func integer(_ value: Any?) -> Int? {
        integerText(value).flatMap { Int($0) }
    }

    /// A string value; numbers are not turned into text here.
    static func string(_ value: Any?) -> String? {
        value as? String
    }

    /// A short, one-line rendering of a value for a note (never the whole of a huge value).
    static func shown(_ value: Any?) -> String {
        let text: String
        switch value {
        case let string as String: text = string
        case nil: text = "nothing"
        case let number as NSNumber where isBoolean(number): text = number.boolValue ? "true" : "false"
        case let number as NSNumber: text = number.stringValue
        case is [Any]: text = "a list"
        case is [String: Any]: text = "an object"
        default: text = "a value"
        }
        let line = text.replacingOccurrences(of: "\n", with: " ")
        return line.count > 60 ? String(line.prefix(57)) + "..." : line
    }
}
