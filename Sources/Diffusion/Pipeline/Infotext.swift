import Foundation

/// Generation parameters in AUTOMATIC1111's "infotext" format, the `parameters` text that A1111,
/// Forge, stable-diffusion.cpp and stipple write into PNGs:
///
///     <prompt, possibly several lines>
///     Negative prompt: <negative prompt>            (omitted when empty)
///     Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, ...
///
/// Values holding `,` `:` or a newline are JSON-quoted. Fields keep their order, and keys we do
/// not know survive a round trip. Parsing follows A1111's `parse_generation_parameters`.
public struct Infotext: Sendable, Equatable {
    /// The positive prompt (may span several lines).
    public var prompt: String
    /// The negative prompt; empty when there is none.
    public var negativePrompt: String
    /// The `Key: value` fields of the last line, in order, values unquoted.
    public var fields: [(key: String, value: String)]

    public init(prompt: String, negativePrompt: String = "", fields: [(key: String, value: String)] = []) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.fields = fields
    }

    public static func == (a: Infotext, b: Infotext) -> Bool {
        a.prompt == b.prompt && a.negativePrompt == b.negativePrompt
            && a.fields.map(\.key) == b.fields.map(\.key) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// The value of the first field named `key`.
    public subscript(key: String) -> String? {
        get { fields.first { $0.key == key }?.value }
        set {
            if let i = fields.firstIndex(where: { $0.key == key }) {
                if let newValue { fields[i].value = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((key, newValue))
            }
        }
    }

    /// `Size: WxH` as numbers.
    public var size: (width: Int, height: Int)? {
        guard let text = self["Size"] else { return nil }
        let parts = text.split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
        return (w, h)
    }

    /// The text as A1111 writes it.
    public var text: String {
        var lines = [prompt]
        if !negativePrompt.isEmpty { lines.append("Negative prompt: " + negativePrompt) }
        if !fields.isEmpty {
            lines.append(fields.map { "\($0.key): \(Self.quote($0.value))" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// Parses infotext written by A1111 or by us. Anything before `Negative prompt:` is the
    /// prompt; the last line is the field line only if it holds at least three `Key: value` pairs.
    public init(parsing text: String) {
        var lines = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n")
        var lastLine = lines.removeLast()
        if Self.pairs(in: lastLine).count < 3 {
            lines.append(lastLine)
            lastLine = ""
        }
        var prompt = "", negative = "", inNegative = false
        for raw in lines {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Negative prompt:") {
                inNegative = true
                line = String(line.dropFirst("Negative prompt:".count)).trimmingCharacters(in: .whitespaces)
            }
            if inNegative {
                negative += (negative.isEmpty ? "" : "\n") + line
            } else {
                prompt += (prompt.isEmpty ? "" : "\n") + line
            }
        }
        self.init(prompt: prompt, negativePrompt: negative, fields: Self.pairs(in: lastLine))
    }

    /// A1111's `re_param`: `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`.
    private static let fieldPattern = try? NSRegularExpression(pattern: #"\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)"#)

    private static func pairs(in line: String) -> [(key: String, value: String)] {
        guard let pattern = fieldPattern else { return [] }
        let range = NSRange(line.startIndex..., in: line)
        return pattern.matches(in: line, range: range).compactMap { match in
            guard let k = Range(match.range(at: 1), in: line), let v = Range(match.range(at: 2), in: line) else { return nil }
            var value = String(line[v])
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = unquote(value) }
            return (String(line[k]), value)
        }
    }

    /// A1111's `quote`: JSON-quoted when the value holds `,` `:` or a newline.
    static func quote(_ value: String) -> String {
        guard value.contains(",") || value.contains(":") || value.contains("\n") else { return value }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else { return value }
        return String(decoding: data, as: UTF8.self)
    }

    static func unquote(_ value: String) -> String {
        guard let decoded = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed]) as? String else { return value }
        return decoded
    }
}
