import Foundation
import Parallel

/// A folder of textual-inversion embeddings as A1111 keeps one (`--embeddings-dir`,
/// `embeddings_dir`): each file, in the folder or below it, is known by its name without the
/// extension, and a prompt uses it by writing that name. Files are read only when a prompt names
/// them (`EmbeddingVocabulary`), then kept in `cache`.
public struct EmbeddingLibrary: Sendable, Equatable {
    /// The folder.
    public let folder: String
    /// Where read embeddings are kept between runs (the process-wide one unless a test gives its own).
    public let cache: EmbeddingCache

    /// File extensions listed: safetensors, and the pickles A1111 also reads (refused when used).
    static let extensions: Set<String> = TextualInversion.pickleExtensions.union(["safetensors"])

    public init(folder: String, cache: EmbeddingCache = .shared) {
        self.folder = folder
        self.cache = cache
    }

    public static func == (a: EmbeddingLibrary, b: EmbeddingLibrary) -> Bool {
        a.folder == b.folder && a.cache === b.cache
    }

    /// The embedding files by name (file name without extension, as written): every
    /// `.safetensors`, `.pt`, `.bin`, `.pth` and `.ckpt` file in the folder and its subfolders
    /// (hidden ones skipped). Where two files share a name, a `.safetensors` one wins over a
    /// pickle, then the first path in sorted order.
    public func files() throws(EmbeddingError) -> [String: String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw EmbeddingError(path: folder, problem: "the embeddings folder does not exist (--embeddings-dir, embeddings_dir)")
        }
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else {
            throw EmbeddingError(path: folder, problem: "the embeddings folder cannot be read")
        }
        var relativePaths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let url = URL(fileURLWithPath: relative)
            if url.lastPathComponent.hasPrefix(".") {
                if enumerator.fileAttributes?[.type] as? FileAttributeType == .typeDirectory { enumerator.skipDescendants() }
                continue
            }
            if Self.extensions.contains(url.pathExtension.lowercased()) { relativePaths.append(relative) }
        }
        var files: [String: String] = [:]
        for relative in relativePaths.sorted(by: Self.preferred) {
            let name = URL(fileURLWithPath: relative).deletingPathExtension().lastPathComponent
            guard !name.isEmpty, files[name] == nil else { continue }
            files[name] = (folder as NSString).appendingPathComponent(relative)
        }
        return files
    }

    /// Sorts `.safetensors` first, then by path.
    private static func preferred(_ a: String, _ b: String) -> Bool {
        let (safeA, safeB) = (a.lowercased().hasSuffix(".safetensors"), b.lowercased().hasSuffix(".safetensors"))
        return safeA != safeB ? safeA : a < b
    }

    /// The embedding in `path` named `name`, from the cache when the file has not changed.
    public func embedding(named name: String, path: String) throws(EmbeddingError) -> TextualInversion {
        try cache.embedding(path: path, name: name)
    }
}

/// Embeddings read so far, keyed by path and checked against the file's size and modification
/// time, so repeated runs do not read a file again until it changes.
public final class EmbeddingCache: Sendable {
    /// The process's cache.
    public static let shared = EmbeddingCache()

    private struct Entry {
        var stamp: FileStamp
        var embedding: TextualInversion
    }

    private struct FileStamp: Equatable {
        var size: Int
        var modified: Double
    }

    private let entries = Locked<[String: Entry]>([:])
    private let readCount = Locked(0)

    public init() {}

    /// Files read (and checked) by this cache so far.
    public var reads: Int { readCount.withLock { $0 } }

    /// The embedding in `path` as `name`: the cached one while the file's size and modification
    /// time are unchanged, else read again. Files that fail are not cached.
    public func embedding(path: String, name: String) throws(EmbeddingError) -> TextualInversion {
        let stamp = Self.stamp(path)
        if let stamp, let entry = entries.withLock({ $0[path] }), entry.stamp == stamp, entry.embedding.name == name {
            return entry.embedding
        }
        readCount.withLock { $0 += 1 }
        let embedding = try TextualInversion(path: path, name: name)
        if let stamp { entries.withLock { $0[path] = Entry(stamp: stamp, embedding: embedding) } }
        return embedding
    }

    private static func stamp(_ path: String) -> FileStamp? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue,
              let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 else { return nil }
        return FileStamp(size: size, modified: modified)
    }
}

/// The names of a library's embeddings as one encoder's tokenizer reads them, to find in prompts
/// as A1111 does (`EmbeddingDatabase.find_embedding_at_position`): a name is tokenized on its own,
/// and wherever that token sequence occurs in a prompt's tokens, starting a word, those tokens
/// are the embedding. The name's last token ends a word (`</w>`), so `tinystyles` does not use
/// `tinystyle`; where several names start alike, the longest wins. Matching is on tokens, so
/// case and spacing are what the tokenizer makes of them (`TinyStyle` is `tinystyle`).
struct EmbeddingVocabulary: Sendable {
    let library: EmbeddingLibrary
    let tokenizer: CLIPTokenizer
    /// The encoder whose vectors a match gives, and its token-embedding width.
    let encoder: EmbeddingEncoder
    let width: Int
    /// Names by their first token, longest token sequence first.
    private let byFirstToken: [Int: [(ids: [Int], name: String, path: String)]]

    /// Lists `library`'s folder and tokenizes every name (nothing is read yet).
    init(library: EmbeddingLibrary, tokenizer: CLIPTokenizer, encoder: EmbeddingEncoder, width: Int) throws(EmbeddingError) {
        self.library = library
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.width = width
        var byFirstToken: [Int: [(ids: [Int], name: String, path: String)]] = [:]
        for (name, path) in try library.files().sorted(by: { $0.key < $1.key }) {
            let ids = tokenizer.encode(name)
            guard let first = ids.first else { continue }
            byFirstToken[first, default: []].append((ids, name, path))
        }
        self.byFirstToken = byFirstToken.mapValues { $0.sorted { $0.ids.count > $1.ids.count } }
    }

    /// A match: the embedding, its vectors for this encoder, and how many prompt tokens its name took.
    struct Match {
        let embedding: TextualInversion
        let vectors: EmbeddingVectors
        let tokenCount: Int
    }

    /// The embedding whose name's tokens start at `position` of `tokens` (one text's tokens), if
    /// any and if `position` starts a word; its file is read (or taken from the cache) now.
    func match(_ tokens: [Int], at position: Int) throws(EmbeddingError) -> Match? {
        guard let candidates = byFirstToken[tokens[position]], position == 0 || endsWord(tokens[position - 1]) else { return nil }
        for candidate in candidates where tokens[position...].starts(with: candidate.ids) {
            let embedding = try library.embedding(named: candidate.name, path: candidate.path)
            return Match(embedding: embedding, vectors: try embedding.vectors(for: encoder, width: width), tokenCount: candidate.ids.count)
        }
        return nil
    }

    /// Whether token `id` is the last of a word (its text ends in `</w>`, or it is a special token).
    private func endsWord(_ id: Int) -> Bool {
        guard let text = tokenizer.token(id) else { return true }
        return text.hasSuffix("</w>") || id == tokenizer.bos || id == tokenizer.eos
    }
}
