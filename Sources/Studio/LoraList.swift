import Diffusion
import Foundation
import Terminal

/// The LoRA files of the LoRA folder (`--lora-dir`, `lora_dir`) as the studio lists them (F7):
/// the `.safetensors` files in the folder and the folders below it (hidden ones left out), found
/// by `LoRALibrary.files`, where the engine finds a `<lora:NAME:…>` (by file name, wherever it lies below);
/// Enter writes `<lora:NAME:1>` into the prompt.
public struct LoraList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// The file's path below the folder (`style.safetensors`, `sd15/style.safetensors`).
        public var path: String
        public var bytes: Int64

        public init(path: String, bytes: Int64) {
            (self.path, self.bytes) = (path, bytes)
        }

        /// The file name without its extension: what the tag names.
        public var name: String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }

        /// Whether `name` can stand in a tag as it is: `:` `<` `>` and control characters would
        /// end or break it, spaces at either end are dropped by the tag's reader (such a file is
        /// listed, shown escaped, and refused on Enter).
        public var fitsInTag: Bool {
            !name.isEmpty && name.first != " " && name.last != " " && !name.unicodeScalars.contains {
                ":<>".unicodeScalars.contains($0) || TerminalText.needsEscape($0, keepingLineBreaks: false)
            }
        }

        /// The entry as the list shows it: its path without the extension (`sd15/style`), control
        /// characters escaped (`TerminalText`).
        public var shownName: String { TerminalText.visible(String(path.dropLast(URL(fileURLWithPath: path).pathExtension.count + 1))) }

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
        case empty(String)

        public var description: String {
            switch self {
            case .noFolder: "no LoRA folder: start the studio with --lora-dir DIR, or set lora_dir in ~/.config/stipple/config.toml"
            case .missing(let folder): "LoRA folder \(folder) is not there (--lora-dir, lora_dir)"
            case .notAFolder(let path): "LoRA folder \(path) is a file, not a folder (--lora-dir, lora_dir)"
            case .empty(let folder): "no .safetensors files in the LoRA folder \(folder) or below it"
            }
        }
    }

    public let folder: String
    /// By name, case-insensitively (then by path).
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
        var entries = LoRALibrary.files(in: folder).map { Entry(path: $0.path, bytes: $0.bytes) }
        guard !entries.isEmpty else { return .failure(.empty(folder)) }
        entries.sort { ($0.name.lowercased(), $0.path) < ($1.name.lowercased(), $1.path) }
        return .success(LoraList(folder: folder, entries: entries))
    }

    public var selectedEntry: Entry? { entries.indices.contains(selected) ? entries[selected] : nil }

    /// Moves the choice by `step`, stopping at the ends.
    public mutating func move(by step: Int) {
        selected = max(0, min(entries.count - 1, selected + step))
    }
}
