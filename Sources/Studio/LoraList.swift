import Foundation
import Terminal

/// The LoRA files of the LoRA folder (`--lora-dir`, `lora_dir`) as the studio lists them (F7):
/// each `NAME.safetensors` directly in the folder (hidden files and subfolders left out), by name;
/// Enter writes `<lora:NAME:1>` into the prompt, which the engine looks up as
/// `FOLDER/NAME.safetensors`.
public struct LoraList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// The file name without `.safetensors`: what the tag names.
        public var name: String
        public var bytes: Int64

        /// Whether `name` can stand in a tag: `:` `<` `>` and control characters would end or break
        /// it (such a file is listed, shown escaped, and refused on Enter).
        public var fitsInTag: Bool {
            !name.isEmpty && !name.unicodeScalars.contains {
                ":<>".unicodeScalars.contains($0) || TerminalText.needsEscape($0, keepingLineBreaks: false)
            }
        }

        /// The name as the list shows it: control characters escaped (`TerminalText`).
        public var shownName: String { TerminalText.visible(name) }

        /// The size as the list shows it: `812 KB`, `144.3 MB`.
        public var shownSize: String {
            let kilobytes = Double(bytes) / 1000
            if kilobytes < 1000 { return String(format: "%.0f KB", kilobytes.rounded(.up)) }
            if kilobytes < 1_000_000 { return String(format: "%.1f MB", kilobytes / 1000) }
            return String(format: "%.2f GB", kilobytes / 1_000_000)
        }
    }

    /// Why there is no list to show; one line for the status.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case noFolder
        case missing(String)
        case notAFolder(String)
        case unreadable(String, String)
        case empty(String)

        public var description: String {
            switch self {
            case .noFolder: "no LoRA folder: start the studio with --lora-dir DIR, or set lora_dir in ~/.config/stipple/config.toml"
            case .missing(let folder): "LoRA folder \(folder) is not there (--lora-dir, lora_dir)"
            case .notAFolder(let path): "LoRA folder \(path) is a file, not a folder (--lora-dir, lora_dir)"
            case .unreadable(let folder, let why): "LoRA folder \(folder) cannot be read: \(why)"
            case .empty(let folder): "no .safetensors files in the LoRA folder \(folder)"
            }
        }
    }

    public let folder: String
    /// By name, case-insensitively.
    public let entries: [Entry]
    /// The chosen entry's index.
    public var selected = 0

    public init(folder: String, entries: [Entry]) {
        (self.folder, self.entries) = (folder, entries)
    }

    /// Lists `folder` (nil: none was set); a problem when there is nothing to list.
    public static func load(folder: String?) -> Result<LoraList, Problem> {
        guard let folder, !folder.isEmpty else { return .failure(.noFolder) }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else { return .failure(.missing(folder)) }
        guard isFolder.boolValue else { return .failure(.notAFolder(folder)) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            return .failure(.unreadable(folder, (error as NSError).localizedDescription))
        }
        let suffix = ".safetensors"
        let entries = names.compactMap { file -> Entry? in
            guard file.hasSuffix(suffix), !file.hasPrefix("."), file.count > suffix.count else { return nil }
            let path = URL(fileURLWithPath: folder).appendingPathComponent(file).resolvingSymlinksInPath().path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
            return Entry(name: String(file.dropLast(suffix.count)), bytes: (attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }.sorted { ($0.name.lowercased(), $0.name) < ($1.name.lowercased(), $1.name) }
        guard !entries.isEmpty else { return .failure(.empty(folder)) }
        return .success(LoraList(folder: folder, entries: entries))
    }

    public var selectedEntry: Entry? { entries.indices.contains(selected) ? entries[selected] : nil }

    /// Moves the choice by `step`, stopping at the ends.
    public mutating func move(by step: Int) {
        selected = max(0, min(entries.count - 1, selected + step))
    }
}
