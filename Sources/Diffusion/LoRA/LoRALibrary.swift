import Foundation
import Parallel

/// The LoRA files of a folder, by the names prompts use (`<lora:NAME:…>` = `NAME.safetensors`, in
/// the folder or a folder below it, as A1111 finds them). Files read once are kept while they do
/// not change on disk (size and modification time), so a LoRA used run after run is parsed once.
public final class LoRALibrary: Sendable {
    /// The one library a process uses.
    public static let shared = LoRALibrary()

    private let files = Locked<[String: LoRAFile]>([:])

    public init() {}

    /// The names of the LoRA files in `folder` and below, sorted (case-insensitively); empty when
    /// the folder cannot be read.
    public static func names(in folder: String) -> [String] {
        files(in: folder).map { URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent }
            .sorted { $0.localizedCaseInsensitiveCompare($1) == .orderedAscending }
    }

    /// The `.safetensors` files in `folder` and the folders below it, as paths relative to
    /// `folder` with their sizes: hidden files and folders are left out, links are followed to
    /// regular files, folders that cannot be read are skipped. What the engine looks names up in
    /// and what the studio's LoRA list shows.
    public static func files(in folder: String) -> [(path: String, bytes: Int64)] {
        var files: [(path: String, bytes: Int64)] = []
        let walker = FileManager.default.enumerator(atPath: folder)
        while let path = walker?.nextObject() as? String {
            let url = URL(fileURLWithPath: folder).appendingPathComponent(path)
            if url.lastPathComponent.hasPrefix(".") {
                walker?.skipDescendants()
                continue
            }
            guard url.pathExtension.lowercased() == "safetensors", !url.deletingPathExtension().lastPathComponent.isEmpty,
                  let attributes = try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            files.append((path, (attributes[.size] as? NSNumber)?.int64Value ?? 0))
        }
        return files
    }

    /// Full paths of `files(in:)`, the folder's own first (then by path).
    static func paths(in folder: String) -> [String] {
        func depth(_ path: String) -> Int { path.reduce(0) { $1 == "/" ? $0 + 1 : $0 } }
        return files(in: folder).map(\.path).sorted { (depth($0), $0) < (depth($1), $1) }
            .map { URL(fileURLWithPath: folder).appendingPathComponent($0).path }
    }

    /// The LoRA `name` names in `folder`; errors name what is wrong in one line.
    public func file(named name: String, in folder: String?) throws -> LoRAFile {
        guard let folder else {
            throw LoRAError("the prompt uses <lora:\(name):…> but no LoRA folder is set: give --lora-dir DIR (or lora_dir in config.toml)")
        }
        guard !name.contains("/"), !name.hasPrefix("."), !name.contains("\0") else {
            throw LoRAError("<lora:\(name):…>: a LoRA is named by its file name, without folders")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw LoRAError("\(folder): the LoRA folder does not exist")
        }
        let direct = URL(fileURLWithPath: folder).appendingPathComponent(name + ".safetensors").path
        let path = FileManager.default.fileExists(atPath: direct) ? direct
            : Self.paths(in: folder).first { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent == name }
        guard let path else {
            let known = Self.names(in: folder)
            let list = known.isEmpty ? "it has no .safetensors files" : "it has \(known.prefix(5).joined(separator: ", "))\(known.count > 5 ? ", …" : "")"
            throw LoRAError("LoRA \"\(name)\" not found in \(folder) (\(list))")
        }
        let identity = LoRAFile.identity(of: path)
        if let known = files.withLock({ $0[path] }), known.identity == identity { return known }
        let file = try LoRAFile(path: path)
        files.withLock { $0[path] = file }
        return file
    }
}

/// A LoRA that cannot be found or used; one line.
public struct LoRAError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
