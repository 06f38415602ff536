import Foundation
import UserFiles

/// The studio's colours, read from a theme file in `themes/`:
///
///     # comment
///     name = "dark"
///     background = "#1e1f29"
///     text = "#e6e6e6"
///     ...
///
/// Every role must be given, as `#rrggbb`. Unknown keys are an error (a typo would otherwise
/// silently fall back to a default).
public struct Theme: Sendable, Equatable {
    /// A 24-bit colour.
    public struct Color: Sendable, Equatable, CustomStringConvertible {
        public var red: UInt8
        public var green: UInt8
        public var blue: UInt8

        public init(red: UInt8, green: UInt8, blue: UInt8) {
            self.red = red
            self.green = green
            self.blue = blue
        }

        /// Parses `#rrggbb`.
        public init?(hex: String) {
            guard hex.count == 7, hex.first == "#", let v = UInt32(hex.dropFirst(), radix: 16) else { return nil }
            self.init(red: UInt8(v >> 16), green: UInt8(v >> 8 & 0xFF), blue: UInt8(v & 0xFF))
        }

        public var description: String { String(format: "#%02x%02x%02x", red, green, blue) }
    }

    /// The colour roles a theme defines, in the order theme files list them.
    public enum Role: String, Sendable, CaseIterable {
        /// Screen background.
        case background
        /// Ordinary text.
        case text
        /// Hints, labels and other quiet text.
        case dimText = "dim_text"
        /// Titles and highlighted values.
        case accent
        /// Frame lines of unfocused panels.
        case border
        /// Frame line of the focused panel.
        case focus
        /// Background of selected rows and the text cursor.
        case selection
        /// The filled part of the progress bar.
        case progress
        /// Status bar background.
        case statusBackground = "status_background"
        /// Status bar text.
        case statusText = "status_text"
        /// Error messages.
        case error
        /// Warnings.
        case warning
        /// Success messages.
        case success
    }

    /// The theme's name (the file name without `.toml`).
    public var name: String
    /// Colour of each role; every role is present.
    public var colors: [Role: Color]

    /// The colour of `role`.
    public subscript(role: Role) -> Color { colors[role]! }

    /// What is wrong with a theme file; one line naming the file, line and problem.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Parses theme text; `source` names it in errors.
    public init(parsing text: String, source: String) throws(ParseError) {
        var name: String?
        var colors: [Role: Color] = [:]
        for (number, raw) in text.components(separatedBy: "\n").enumerated() {
            let content = Self.stripComment(raw).trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            let parts = content.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[1].count >= 2, parts[1].first == "\"", parts[1].last == "\"" else {
                throw ParseError(description: "\(source):\(number + 1): expected key = \"value\"")
            }
            let key = parts[0], value = String(parts[1].dropFirst().dropLast())
            if key == "name" {
                name = value
            } else if let role = Role(rawValue: key) {
                guard let color = Color(hex: value) else {
                    throw ParseError(description: "\(source):\(number + 1): \(key) must be a colour like \"#1e1f29\", not \"\(value)\"")
                }
                colors[role] = color
            } else {
                throw ParseError(description: "\(source):\(number + 1): unknown key \"\(key)\" (known: name, \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        let missing = Role.allCases.filter { colors[$0] == nil }
        guard missing.isEmpty else {
            throw ParseError(description: "\(source): missing \(missing.map(\.rawValue).joined(separator: ", "))")
        }
        self.name = name ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        self.colors = colors
    }

    /// Reads `folder/<name>.toml`.
    public static func load(named name: String, from folder: URL) throws(ParseError) -> Theme {
        let url = folder.appendingPathComponent(name + ".toml")
        let text: String
        do {
            text = try UserFile.readText(url.path)
        } catch where error.isMissing {
            let available = available(in: folder)
            throw ParseError(description: "no theme \"\(name)\" in \(folder.path)" + (available.isEmpty ? "" : " (available: \(available.joined(separator: ", ")))"))
        } catch {
            throw ParseError(description: error.description)
        }
        return try Theme(parsing: text, source: url.path)
    }

    /// Names of the themes in `folder`, sorted.
    public static func available(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The line without a trailing `# comment`, keeping `#` inside double quotes.
    static func stripComment(_ line: String) -> String {
        var inQuotes = false
        for (i, ch) in zip(line.indices, line) {
            if ch == "\"" { inQuotes.toggle() }
            if ch == "#" && !inQuotes { return String(line[..<i]) }
        }
        return line
    }
}
