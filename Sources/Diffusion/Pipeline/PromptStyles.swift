import Foundation

/// AUTOMATIC1111's prompt styles: a `styles.csv` of named prompt and negative-prompt fragments
/// (its `modules/styles.py`), applied in order to a prompt before it is parsed.
///
/// The file as A1111 reads it: UTF-8 with or without a byte-order mark, CSV as Python's `csv`
/// module reads it (commas, `"` quoting with `""` for a quote, line breaks inside quotes, spaces
/// after a comma skipped, a quote inside an unquoted field kept), the first row the column names:
/// `name`, `prompt` (or the old `text`) and `negative_prompt` (optional); a row's missing fields
/// are empty, blank lines are skipped, a later row of the same name replaces an earlier one.
///
/// Applying a style (`merge_prompts`): a style text containing `{prompt}` has every `{prompt}`
/// replaced by the prompt; any other style text is appended as `prompt, style`, each trimmed of
/// surrounding whitespace, an empty one left out (no stray comma). Several styles apply in the
/// order given, each to the result of the one before; the negative prompt likewise with the
/// styles' negative texts. The parameters then record the styled prompt, as A1111's do.
public struct PromptStyles: Sendable, Equatable {
    /// One row of the file.
    public struct Style: Sendable, Equatable {
        public var name: String
        public var prompt: String
        public var negativePrompt: String
        public init(name: String, prompt: String, negativePrompt: String) {
            (self.name, self.prompt, self.negativePrompt) = (name, prompt, negativePrompt)
        }
    }

    /// The styles in file order (names unique: a repeated name keeps the first place, the last text).
    public var styles: [Style]

    /// The largest styles file read (A1111's are a few kilobytes; thousands of styles fit easily).
    public static let maximumFileSize = 16 << 20

    /// The styles of a CSV text.
    public init(csv text: String) throws(PromptStylesError) {
        var rows = Self.rows(of: text)
        guard !rows.isEmpty else { throw .noHeader }
        let header = rows.removeFirst()
        guard let nameColumn = header.firstIndex(of: "name") else { throw .noNameColumn(header) }
        let promptColumn = header.firstIndex(of: "prompt") ?? header.firstIndex(of: "text")
        guard let promptColumn else { throw .noPromptColumn(header) }
        let negativeColumn = header.firstIndex(of: "negative_prompt")
        func field(_ row: [String], _ column: Int?) -> String {
            guard let column, column < row.count else { return "" }
            return row[column]
        }
        styles = []
        for row in rows {
            let style = Style(name: field(row, nameColumn), prompt: field(row, promptColumn), negativePrompt: field(row, negativeColumn))
            if let existing = styles.firstIndex(where: { $0.name == style.name }) {
                styles[existing] = style
            } else {
                styles.append(style)
            }
        }
    }

    /// The styles of the file at `path`.
    public init(path: String) throws(PromptStylesError) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let attributes, attributes[.type] as? FileAttributeType == .typeRegular else { throw .unreadable(path: path, why: "not a readable file") }
        if let size = attributes[.size] as? Int, size > Self.maximumFileSize {
            throw .unreadable(path: path, why: "\(size) bytes, more than a styles file's \(Self.maximumFileSize)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, why: "cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadable(path: path, why: "not UTF-8 text") }
        do {
            try self.init(csv: text)
        } catch {
            throw .unreadable(path: path, why: error.description)
        }
    }

    /// The style named `name` (exactly, as A1111 matches), else an error naming close names.
    public func style(named name: String) throws(PromptStylesError) -> Style {
        if let style = styles.first(where: { $0.name == name }) { return style }
        throw .unknown(name, close: closeNames(to: name), count: styles.count)
    }

    /// `prompt` and `negative` with the styles `names` applied in order.
    public func apply(_ names: [String], prompt: String, negative: String) throws(PromptStylesError) -> (prompt: String, negative: String) {
        var (prompt, negative) = (prompt, negative)
        for name in names {
            let style = try style(named: name)
            prompt = Self.merge(style: style.prompt, into: prompt)
            negative = Self.merge(style: style.negativePrompt, into: negative)
        }
        return (prompt, negative)
    }

    /// A1111's `merge_prompts`.
    public static func merge(style: String, into prompt: String) -> String {
        if style.contains("{prompt}") { return style.replacingOccurrences(of: "{prompt}", with: prompt) }
        return [prompt, style].map { pythonStrip($0) }.filter { !$0.isEmpty }.joined(separator: ", ")
    }

    /// Python's `str.strip()`: whitespace (Python's) off both ends.
    static func pythonStrip(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        while let first = scalars.first, PromptSchedule.isPythonSpace(first) { scalars.removeFirst() }
        while let last = scalars.last, PromptSchedule.isPythonSpace(last) { scalars.removeLast() }
        return String(scalars)
    }

    /// Up to five names like `name`: the same ignoring case, containing it or contained in it, or
    /// within two edits.
    func closeNames(to name: String) -> [String] {
        let wanted = name.lowercased()
        let close = styles.map(\.name).filter { candidate in
            let lower = candidate.lowercased()
            return !lower.isEmpty && (lower == wanted || lower.contains(wanted) || wanted.contains(lower)
                || Self.editDistance(Array(lower.unicodeScalars), Array(wanted.unicodeScalars), limit: 2) <= 2)
        }
        return Array(close.prefix(5))
    }

    /// Levenshtein distance, or `limit + 1` once it is known to exceed `limit`.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        guard abs(a.count - b.count) <= limit, a.count < 200, b.count < 200 else { return limit + 1 }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + [Int](repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            if current.min() ?? 0 > limit { return limit + 1 }
            previous = current
        }
        return previous[b.count]
    }

    /// The rows of CSV text as Python's `csv.reader(skipinitialspace=True)` reads them (excel
    /// dialect, not strict), a leading byte-order mark dropped and blank lines skipped.
    static func rows(of text: String) -> [[String]] {
        var scalars = Substring(text).unicodeScalars
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        enum State { case startRecord, startField, inField, inQuoted, quoteInQuoted }
        var rows: [[String]] = []
        var row: [String] = []
        var field = String.UnicodeScalarView()
        var state = State.startRecord
        func saveField() {
            row.append(String(field))
            field = String.UnicodeScalarView()
        }
        func endRecord() {
            rows.append(row)
            row = []
        }
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let c = scalars[index]
            let newline = c == "\n" || c == "\r"
            switch state {
            case .startRecord, .startField:
                if state == .startRecord && newline { break }  // a blank line
                if newline {
                    saveField()
                    endRecord()
                    state = .startRecord
                } else if c == "\"" {
                    state = .inQuoted
                } else if c == " " {
                    state = .startField  // skipinitialspace
                } else if c == "," {
                    saveField()
                    state = .startField
                } else {
                    field.append(c)
                    state = .inField
                }
            case .inField:
                if newline {
                    saveField()
                    endRecord()
                    state = .startRecord
                } else if c == "," {
                    saveField()
                    state = .startField
                } else {
                    field.append(c)
                }
            case .inQuoted:
                if c == "\"" { state = .quoteInQuoted } else { field.append(c) }
            case .quoteInQuoted:
                if c == "\"" {
                    field.append(c)
                    state = .inQuoted
                } else if c == "," {
                    saveField()
                    state = .startField
                } else if newline {
                    saveField()
                    endRecord()
                    state = .startRecord
                } else {
                    field.append(c)
                    state = .inField
                }
            }
            // "\r\n" ends one record, not a record and a blank line.
            if c == "\r", scalars.index(after: index) < scalars.endIndex, scalars[scalars.index(after: index)] == "\n",
               state == .startRecord {
                index = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        if state != .startRecord {
            saveField()
            endRecord()
        }
        return rows
    }
}

/// Why styles cannot be used: one line.
public enum PromptStylesError: Error, CustomStringConvertible, Equatable, Sendable {
    case noHeader
    case noNameColumn([String])
    case noPromptColumn([String])
    case unreadable(path: String, why: String)
    /// No style of that name; `close` are names like it, `count` the styles there are.
    case unknown(String, close: [String], count: Int)

    public var description: String {
        switch self {
        case .noHeader:
            "styles: the file is empty (A1111's styles.csv starts with the line name,prompt,negative_prompt)"
        case .noNameColumn(let header):
            "styles: no \"name\" column (the first line has \(header.map(Self.quoted).joined(separator: ", ")))"
        case .noPromptColumn(let header):
            "styles: no \"prompt\" column (the first line has \(header.map(Self.quoted).joined(separator: ", ")))"
        case .unreadable(let path, let why):
            "styles file \(Self.quoted(path)): \(why)"
        case .unknown(let name, let close, let count):
            "no style named \(Self.quoted(name)) among the \(count) in the styles file"
                + (close.isEmpty ? "" : "; close: " + close.map(Self.quoted).joined(separator: ", "))
        }
    }

    /// `text` in quotes, control characters (C0, DEL, C1) written as \u{..}, at most 60 characters.
    static func quoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(60) {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return "\"\(out)\(text.unicodeScalars.count > 60 ? "..." : "")\""
    }
}
