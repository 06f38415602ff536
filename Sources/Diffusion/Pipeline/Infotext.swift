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

    /// The most text `read` parses: A1111's own parameters are a few KB even with long prompts;
    /// a PNG carrying more is refused rather than read into every listing.
    public static let maximumLength = 256 * 1024

    /// `Infotext(parsing:)` of a text from a file, refused when longer than `maximumLength`.
    public static func read(_ text: String) throws(InfotextTooLong) -> Infotext {
        guard text.utf8.count <= maximumLength else { throw InfotextTooLong(length: text.utf8.count) }
        return Infotext(parsing: text)
    }

    /// The `Key: value` pairs of a line as A1111's `re_param` finds them with `findall`:
    /// `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`. Scanned by hand in one pass:
    /// a regex engine backtracks over every start position of a long run of key characters that is
    /// not followed by `:` (quadratic: 32 KB of text took 10 s, 1 MB never ended). Here a run
    /// that fails is skipped whole, which finds the same matches, since any later start inside
    /// the run ends at the same non-`:` character.
    static func pairs(in line: String) -> [(key: String, value: String)] {
        let c = Array(line.unicodeScalars)
        func isWord(_ s: Unicode.Scalar) -> Bool { s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil }
        func isKey(_ s: Unicode.Scalar) -> Bool { isWord(s) || s == " " || s == "-" || s == "/" }
        func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }
        func text(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(c[range])) }
        var result: [(key: String, value: String)] = []
        var i = 0
        while i < c.count {
            // \s* then \w: a key starts at the first word character after any spaces.
            var k = i
            while k < c.count, isSpace(c[k]) { k += 1 }
            guard k < c.count, isWord(c[k]) else {
                i = k == i ? i + 1 : k
                continue
            }
            var end = k + 1
            while end < c.count, isKey(c[end]) { end += 1 }
            guard end - k >= 2, end < c.count, c[end] == ":" else {
                // No match starts anywhere in this run (a one-character key can still fail here
                // and be part of nothing else).
                i = max(end, i + 1)
                continue
            }
            let key = text(k..<end)
            var v = end + 1
            while v < c.count, isSpace(c[v]) { v += 1 }
            // A quoted value: up to the first unescaped quote, then `,` or the end of the line.
            if v < c.count, c[v] == "\"" {
                var q = v + 1
                while q < c.count, c[q] != "\"" { q += c[q] == "\\" && q + 1 < c.count ? 2 : 1 }
                if q < c.count, q > v + 1, q + 1 == c.count || c[q + 1] == "," {
                    result.append((key, unquote(text(v..<(q + 1)))))
                    i = q + 2
                    continue
                }
            }
            var comma = v
            while comma < c.count, c[comma] != "," { comma += 1 }
            var value = text(v..<comma)
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = unquote(value) }
            result.append((key, value))
            i = comma + 1
        }
        return result
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

/// Parameters text past `Infotext.maximumLength`; one line.
public struct InfotextTooLong: Error, Equatable, Sendable, CustomStringConvertible {
    public let length: Int

    public var description: String {
        "the image's parameters text is \(length / 1024) KB, more than the \(Infotext.maximumLength / 1024) KB stipple reads"
    }
}
