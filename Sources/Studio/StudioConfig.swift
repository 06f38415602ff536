import Diffusion
import Foundation
import Diffusion
internal import TOMLKit  // not re-exported: its literal conformances (Int: TOMLValueConvertible...) would slow type checking in every client
import Terminal
import UserFiles

/// Settings from `$XDG_CONFIG_HOME/stipple/config.toml` (else `~/.config/...`), a TOML document
/// read with a real TOML parser (TOMLKit, on toml++). Keys stipple does not know and values of the
/// wrong type are warnings (the rest of the file still applies); a file that is not TOML is an
/// error, since running with silently ignored settings would mislead (see docs/DECISIONS.md).
public struct StudioConfig: Sendable, Equatable {
    /// The default model: a diffusers folder or a single-file checkpoint (`model`).
    public var model: String?
    /// Where images are saved (`output_dir`).
    public var outputDirectory: String?
    /// The colour theme's name (`theme`).
    public var theme: String?
    /// The precision the UNet's large weights are kept in (`weight_type`: "f32", "f16" or "bf16"; nil: as stored).
    public var weightType: WeightType?
    /// Where `<lora:NAME:WEIGHT>` finds its LoRA files (`lora_dir`).
    public var loraDirectory: String?
    /// Where textual-inversion embeddings are found by file name (`embeddings_dir`).
    public var embeddingsDirectory: String?
    /// The A1111 styles.csv `--style` names its styles in (`styles_file`).
    public var stylesFile: String?
    /// VAE tiling for the studio's generations (`vae_tiling`: "auto", "on" or "off").
    public var vaeTiling: VAETiling?
    /// Where generations run (the `[backend]` table): the embedded engine unless it names a server.
    public var backend = BackendSettings()
    /// What was ignored, one line each without the file's name: unknown keys, wrong types.
    public var warnings: [String] = []

    /// The keys stipple reads, in the order the warnings list them.
    public static let knownKeys = ["backend", "embeddings_dir", "lora_dir", "model", "output_dir", "styles_file", "theme", "vae_tiling",
                                   "weight_type"]

    /// The file is not valid TOML (or not UTF-8 text): where and why, one line.
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let column: Int
        public let message: String
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// The config file cannot be used: not a regular file, unreadable, or a TOML syntax error.
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    public init() {}

    /// Parses a config file's text. Unknown keys and wrong types land in `warnings`.
    public init(text: String) throws(SyntaxError) {
        if let nul = text.utf8.firstIndex(of: 0) {
            // TOML forbids NUL; the parser would stop reading there and accept the rest unseen.
            var (line, column) = (1, 1)
            for byte in text.utf8[..<nul] { (line, column) = byte == 10 ? (line + 1, 1) : (line, column + 1) }
            throw SyntaxError(line: line, column: column, message: "a NUL character (not allowed in TOML)")
        }
        if let problem = Self.problemTOMLKitWouldAbortOn(text) {
            // toml++ (inside TOMLKit) aborts the process on an assertion for a table header whose
            // key starts with anything but a bare-key character or a quote (`[é]`, `[.a]`), found
            // by fuzzing: such text never reaches it.
            throw problem
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let message = error.description.split(whereSeparator: \.isNewline).joined(separator: " ")
            throw SyntaxError(line: error.source.begin.line, column: error.source.begin.column, message: message)
        } catch {
            throw SyntaxError(line: 1, column: 1, message: "\(error)")
        }
        for key in table.keys {
            guard let value = table[key] else { continue }
            guard Self.knownKeys.contains(key) else {
                warnings.append("unknown key \(Self.quoted(key)) (known: \(Self.knownKeys.joined(separator: ", ")))")
                continue
            }
            if key == "backend" {
                guard let backendTable = value.table else {
                    warnings.append("backend must be a table ([backend] with kind = \"comfyui\" and url = \"http://...\"), "
                                    + "not \(Self.article(value.type)); ignored")
                    continue
                }
                readBackend(backendTable)
                continue
            }
            guard value.type == .string, let string = value.string else {
                warnings.append("\(key) must be a string (in quotes), not \(Self.article(value.type)); ignored")
                continue
            }
            guard !string.isEmpty else {
                warnings.append("\(key) is empty; ignored")
                continue
            }
            switch key {
            case "model": model = string
            case "output_dir": outputDirectory = string
            case "lora_dir": loraDirectory = string
            case "embeddings_dir": embeddingsDirectory = string
            case "styles_file": stylesFile = string
            case "weight_type":
                guard let type = WeightType(rawValue: string) else {
                    warnings.append("weight_type must be f32, f16 or bf16, not \(Self.quoted(string)); ignored")
                    continue
                }
                weightType = type
            case "vae_tiling":
                vaeTiling = VAETiling(rawValue: string)
                if vaeTiling == nil {
                    warnings.append("vae_tiling must be \(VAETiling.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), not \(Self.quoted(string)); ignored")
                }
            default: theme = string
            }
        }
    }

    /// The `[backend]` table's keys, each a string; the rest are warnings as at the top level.
    private mutating func readBackend(_ table: TOMLTable) {
        for key in table.keys {
            guard let value = table[key] else { continue }
            guard BackendSettings.knownKeys.contains(key) else {
                warnings.append("unknown key backend.\(Self.quoted(key)) (known: \(BackendSettings.knownKeys.joined(separator: ", ")))")
                continue
            }
            guard value.type == .string, let string = value.string, !string.isEmpty else {
                warnings.append("backend.\(key) must be a non-empty string (in quotes); ignored")
                continue
            }
            if let problem = backend.set(key, string) { warnings.append("backend.\(key): \(problem); ignored") }
        }
    }

    /// The first place, outside strings and comments, where the text has a character above
    /// U+007F (TOML allows them only in strings and comments) or a table header whose key does not
    /// start with a bare-key character (A-Z a-z 0-9 _ -) or a quote; nil when there is none.
    /// Knows TOML's four string forms, `#` comments and the brackets of array values.
    static func problemTOMLKitWouldAbortOn(_ text: String) -> SyntaxError? {
        let c = Array(text.unicodeScalars)
        var (line, column) = (1, 0)
        var i = 0
        var arrayDepth = 0
        var lineStart = true  // only whitespace so far on this line
        var expectValue = false  // after `=`, until the value's first token
        /// Moves past `count` scalars, counting lines.
        func advance(_ count: Int = 1) {
            for _ in 0..<count where i < c.count {
                if c[i] == "\n" { (line, column, lineStart) = (line + 1, 0, true) } else { column += 1 }
                i += 1
            }
        }
        func starts(_ s: String, at position: Int) -> Bool {
            let scalars = Array(s.unicodeScalars)
            return position + scalars.count <= c.count && Array(c[position..<(position + scalars.count)]) == scalars
        }
        func isSpace(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" }
        func startsKey(_ s: Unicode.Scalar) -> Bool {
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_" || s == "-" || s == "\"" || s == "'")
        }
        while i < c.count {
            let scalar = c[i]
            if scalar == "#" {
                while i < c.count, c[i] != "\n" { advance() }
            } else if scalar == "\"" || scalar == "'" {
                lineStart = false
                expectValue = false
                let quote = String(scalar), triple = String(repeating: quote, count: 3)
                let multiline = starts(triple, at: i)
                let close = multiline ? triple : quote
                advance(multiline ? 3 : 1)
                while i < c.count, !starts(close, at: i), multiline || c[i] != "\n" {
                    advance(scalar == "\"" && c[i] == "\\" ? 2 : 1)  // a basic string's escape
                }
                advance(close.unicodeScalars.count)
            } else if scalar.value > 0x7F {
                return SyntaxError(line: line, column: column + 1,
                                   message: "a non-ASCII character outside a string or comment (quote keys that need one)")
            } else if scalar == "[" && lineStart && arrayDepth == 0 {
                // A table header: `[key]` or `[[key]]`, spaces allowed inside.
                lineStart = false
                advance()
                if i < c.count, c[i] == "[" { advance() }
                while i < c.count, isSpace(c[i]) { advance() }
                if i < c.count, c[i] != "]", !startsKey(c[i]) {
                    return SyntaxError(line: line, column: column + 1,
                                       message: "a table header's key must start with a letter, digit, _, - or a quote")
                }
            } else if Self.bareTokenCharacter(scalar) {
                // A bare key or a bare value (number, boolean, date): whole tokens of a form TOML
                // can mean, so toml++'s value parser (which asserts on odd ones, e.g. `0-!p`)
                // only sees those.
                lineStart = false
                let start = i, startColumn = column
                while i < c.count, Self.bareTokenCharacter(c[i]) { advance() }
                let token = String(String.UnicodeScalarView(c[start..<i]))
                let isValue = expectValue || arrayDepth > 0
                expectValue = false
                guard isValue ? Self.plausibleBareValue(token) : Self.plausibleBareKey(token) else {
                    return SyntaxError(line: line, column: startColumn + 1,
                                       message: "\(TerminalText.visible(token)) is neither a key nor a value (strings need quotes)")
                }
            } else {
                if scalar == "[" { arrayDepth += 1 }
                if scalar == "]" { arrayDepth = max(0, arrayDepth - 1) }
                if !isSpace(scalar) && scalar != "\n" && scalar != "\r" { lineStart = false }
                if scalar == "=" {
                    expectValue = true
                } else if scalar == "\n" || scalar == "{" || (scalar == "," && arrayDepth == 0) {
                    expectValue = false  // a key comes next (a new line, an inline table's next pair)
                }
                advance()
                // Where a value must follow (`=`, an array's `[` or `,`), a `,` or `}` (or `]`
                // straight after `=`) means it is missing: toml++ asserts on that inside arrays.
                if scalar == "=" || (arrayDepth > 0 && (scalar == "[" || scalar == ",")) {
                    var j = i
                    while j < c.count {
                        if isSpace(c[j]) || (scalar != "=" && (c[j] == "\n" || c[j] == "\r")) {
                            j += 1
                        } else if scalar != "=" && c[j] == "#" {
                            while j < c.count, c[j] != "\n" { j += 1 }
                        } else {
                            break
                        }
                    }
                    if j < c.count, c[j] == "," || c[j] == "}" || (scalar == "=" && c[j] == "]") {
                        return SyntaxError(line: line, column: column + 1, message: "a value is missing before \(Character(c[j]))")
                    }
                }
            }
        }
        return nil
    }

    /// Characters of an unquoted token: everything but whitespace, TOML's punctuation and quotes.
    static func bareTokenCharacter(_ s: Unicode.Scalar) -> Bool {
        s.value > 0x20 && s.value < 0x7F && !"=,[]{}#\"'".unicodeScalars.contains(s)
    }

    /// A bare key or dotted key (`a`, `a.b-c`).
    static func plausibleBareKey(_ token: String) -> Bool {
        token.wholeMatch(of: #/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*/#) != nil
    }

    /// A boolean, an integer or float (also hex, octal, binary, inf, nan), or a date, time or
    /// date-time: loosely, as toml++ itself then checks the details.
    static func plausibleBareValue(_ token: String) -> Bool {
        token.wholeMatch(of: plausibleBareValuePattern) != nil
    }

    nonisolated(unsafe) private static let plausibleBareValuePattern = #/
        true | false
        | [+-]? ( inf | nan | [0-9][0-9_]* (\.[0-9][0-9_]*)? ([eE][+-]?[0-9][0-9_]*)? )
        | 0x[0-9A-Fa-f_]+ | 0o[0-7_]+ | 0b[01_]+
        | [0-9]{4}-[0-9]{2}-[0-9]{2} ([Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)? ([Zz]|[+-][0-9]{2}:[0-9]{2})?
        | [0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ([Zz]|[+-][0-9]{2}:[0-9]{2})?
        /#

    /// The config file's path: `$XDG_CONFIG_HOME/stipple/config.toml`, else under `~/.config`.
    public static var path: String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory() + "/.config"
        return base + "/stipple/config.toml"
    }

    /// Reads the config file at `path`: no file is no settings; a file that is not a regular file,
    /// cannot be read or is not TOML is an error naming the file (and the line).
    public static func load(path: String = path) throws(LoadError) -> StudioConfig {
        let shown = displayPath(path)
        let text: String
        do {
            text = try UserFile.readText(path)
        } catch where error.isMissing {
            return StudioConfig()
        } catch {
            throw LoadError(description: "\(shown): \(error.reason)")
        }
        do {
            return try StudioConfig(text: text)
        } catch {
            throw LoadError(description: "\(shown): \(error.description) (fix the file, or move it away to start without it)")
        }
    }

    /// The user's config file, read once per process (every command asks for it in its own
    /// place); its warnings go to standard error on that first read.
    public static func current() throws(LoadError) -> StudioConfig {
        try once.get()
    }

    private static let once: Result<StudioConfig, LoadError> = {
        let result = Result { () throws(LoadError) in try load() }
        if case .success(let config) = result {
            for line in config.warningLines(path: path) {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }
        return result
    }()

    /// The warnings as stipple prints them: `stipple: warning: FILE: ...`, control characters
    /// in the file's text made visible.
    public func warningLines(path: String) -> [String] {
        warnings.map { TerminalText.visible("stipple: warning: \(Self.displayPath(path)): \($0)") }
    }

    /// `path` with the home folder shown as `~`.
    static func displayPath(_ path: String) -> String {
        let home = NSHomeDirectory()
        return !home.isEmpty && home != "/" && path.hasPrefix(home + "/") ? "~" + path.dropFirst(home.count) : path
    }

    private static func quoted(_ key: String) -> String {
        "\"" + key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func article(_ type: TOMLType) -> String {
        switch type {
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .date: "a date"
        case .time: "a time"
        case .dateTime: "a date-time"
        case .string: "a string"
        }
    }
}
