import Foundation
import Tensor

/// Which text encoder a textual-inversion embedding's vectors stand in for.
public enum EmbeddingEncoder: String, Sendable, Hashable, CustomStringConvertible {
    /// The one text encoder of SD 1.x / 2.x: an A1111 file's `emb_params` (or its only tensor).
    case single
    /// SDXL's CLIP ViT-L (`text_encoder`): the file's `clip_l`.
    case clipL = "clip_l"
    /// SDXL's OpenCLIP ViT-bigG (`text_encoder_2`): the file's `clip_g`.
    case clipG = "clip_g"

    public var description: String { rawValue }
}

/// `count` vectors of `width` values, row after row: what stands in for `count` prompt tokens.
public struct EmbeddingVectors: Sendable, Equatable {
    public let count: Int
    public let width: Int
    /// [count x width], row-major.
    public let values: [Float]

    public init(count: Int, width: Int, values: [Float]) {
        precondition(values.count == count * width, "count x width values")
        (self.count, self.width, self.values) = (count, width, values)
    }

    /// Vector `index`.
    public func vector(_ index: Int) -> ArraySlice<Float> {
        values[(index * width)..<((index + 1) * width)]
    }
}

/// An A1111 textual-inversion embedding read from a `.safetensors` file: its name (the file name
/// without extension, the word a prompt uses), the vectors for each text encoder it is made for,
/// and the file's SHA-256 (A1111's `TI hashes` give its first 12 hex digits).
///
/// Layouts read (A1111's `EmbeddingDatabase.load_from_file`, safetensors only):
/// - SD 1.x / 2.x: `emb_params` [n, width], or a single tensor under any name ([n, width], or
///   [width] for one vector);
/// - SDXL: `clip_l` [n, 768] and `clip_g` [n, 1280] (the same n).
/// F32, F16 and BF16 are widened exactly to Float32. Pickles (`.pt`, `.bin`) are refused unread.
public struct TextualInversion: Sendable, Equatable {
    /// The word the prompt uses: the file name without its extension.
    public let name: String
    /// The file, as the folder listing spelled it.
    public let path: String
    /// SHA-256 of the whole file, lower-case hex.
    public let sha256: String
    /// The vectors per encoder: `.single` for an SD 1.x / 2.x file, `.clipL` and `.clipG` for SDXL's.
    public let vectors: [EmbeddingEncoder: EmbeddingVectors]

    /// A1111's short hash (`Embedding.shorthash`): the first 12 hex digits of the file's SHA-256.
    public var shortHash: String { String(sha256.prefix(12)) }

    /// Whether the file is SDXL's (`clip_l` + `clip_g`).
    public var isSDXL: Bool { vectors[.single] == nil }

    /// Vectors per encoder (the same for every encoder of the file).
    public var count: Int { vectors.values.first?.count ?? 0 }

    /// The most vectors an embedding may have: one 75-token chunk.
    public static let maximumCount = CLIPTokenizer.tokensPerWindow

    /// File extensions of PyTorch pickles, which A1111 reads and stipple refuses.
    static let pickleExtensions: Set<String> = ["pt", "bin", "pth", "ckpt"]

    /// Reads and checks the file at `path` as the embedding `name`.
    public init(path: String, name: String) throws(EmbeddingError) {
        func fail(_ problem: String) -> EmbeddingError { EmbeddingError(path: path, problem: problem) }
        let fileExtension = URL(fileURLWithPath: path).pathExtension.lowercased()
        if Self.pickleExtensions.contains(fileExtension) {
            throw fail("a PyTorch pickle embedding (.\(fileExtension)); pickles can run arbitrary code when loaded, so stipple "
                       + "reads only .safetensors embeddings (convert it once in Python: "
                       + "safetensors.torch.save_file({\"emb_params\": torch.load(f)[\"string_to_param\"][\"*\"]}, out))")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == 0 { throw fail("the file is empty") }
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(path: path)
        } catch {
            throw EmbeddingError(path: path, problem: error.at("").description + " (an embedding must be a .safetensors file)")
        }
        let names = file.tensorNames
        func read(_ tensor: String) throws(EmbeddingError) -> EmbeddingVectors {
            guard let info = file.info(tensor) else { throw fail("no tensor named \(tensor)") }
            let shape = info.shape
            guard shape.count == 2 || shape.count == 1 else {
                throw fail("tensor \(tensor) has shape \(shape); an embedding's is [vectors, width]")
            }
            let (count, width) = shape.count == 2 ? (shape[0], shape[1]) : (1, shape[0])
            guard count >= 1, width >= 1 else { throw fail("tensor \(tensor) has shape \(shape): no vectors") }
            guard count <= Self.maximumCount else {
                throw fail("tensor \(tensor) has \(count) vectors, more than the \(Self.maximumCount) a prompt chunk holds")
            }
            let values: Tensor
            do {
                values = try file.tensor(tensor)
            } catch {
                throw EmbeddingError(path: path, problem: error.at("").description)
            }
            guard values.isFinite else { throw fail("tensor \(tensor) holds values that are not finite (NaN or infinity)") }
            return EmbeddingVectors(count: count, width: width, values: values.storage)
        }
        var vectors: [EmbeddingEncoder: EmbeddingVectors] = [:]
        if names.contains(EmbeddingEncoder.clipL.rawValue) || names.contains(EmbeddingEncoder.clipG.rawValue) {
            guard names.contains(EmbeddingEncoder.clipL.rawValue), names.contains(EmbeddingEncoder.clipG.rawValue) else {
                throw fail("has \(names.contains("clip_l") ? "clip_l" : "clip_g") without \(names.contains("clip_l") ? "clip_g" : "clip_l"); "
                           + "an SDXL embedding has both")
            }
            let (l, g) = (try read(EmbeddingEncoder.clipL.rawValue), try read(EmbeddingEncoder.clipG.rawValue))
            guard l.count == g.count else {
                throw fail("clip_l has \(l.count) vectors and clip_g \(g.count); an SDXL embedding has as many of each")
            }
            vectors = [.clipL: l, .clipG: g]
        } else if names.contains("emb_params") {
            vectors = [.single: try read("emb_params")]
        } else if names.count == 1 {
            vectors = [.single: try read(names[0])]
        } else if names.isEmpty {
            throw fail("holds no tensors")
        } else {
            let shown = names.prefix(4).joined(separator: ", ") + (names.count > 4 ? ", ..." : "")
            throw fail("holds \(names.count) tensors (\(shown)); an embedding holds one (emb_params) or SDXL's clip_l and clip_g "
                       + "(is it a LoRA or a model?)")
        }
        let digest: String
        do {
            digest = try SHA256.hex(file: path)
        } catch {
            throw fail("cannot read: \(error)")
        }
        self.name = name
        self.path = path
        self.sha256 = digest
        self.vectors = vectors
    }

    /// The vectors for `encoder`, whose token embeddings are `width` wide; refused in one line
    /// naming the file when the embedding is for another kind of model.
    public func vectors(for encoder: EmbeddingEncoder, width: Int) throws(EmbeddingError) -> EmbeddingVectors {
        func fail(_ problem: String) -> EmbeddingError { EmbeddingError(path: path, problem: problem) }
        guard let chosen = vectors[encoder] else {
            if encoder == .single {
                throw fail("an SDXL embedding (clip_l and clip_g); this model is SD 1.x / 2.x, whose embeddings hold one tensor (emb_params)")
            }
            let width = vectors[.single]?.width ?? 0
            throw fail("an SD 1.x / 2.x embedding (one tensor of width \(width)); this model is SDXL, whose embeddings hold clip_l and clip_g")
        }
        guard chosen.width == width else {
            let tensor = encoder == .single ? "its vectors are" : "its \(encoder) vectors are"
            throw fail("\(tensor) \(chosen.width) wide, but this model's text encoder takes \(width) (an embedding for another model)")
        }
        return chosen
    }
}

/// An embedding file that cannot be used: one line naming the file.
public struct EmbeddingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (or the embeddings folder).
    public var path: String
    /// What is wrong.
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "embedding \(path): \(problem)" }
}
