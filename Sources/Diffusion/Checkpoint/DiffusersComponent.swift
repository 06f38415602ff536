import Foundation

/// One component folder of a diffusers model (`text_encoder/`, `unet/`, `vae/`): its
/// `config.json` and its weights, found the way diffusers finds them.
///
/// Weights are, in order of preference, `diffusion_pytorch_model.safetensors`,
/// `model.safetensors` (transformers' name, used by text encoders), and the sharded forms
/// `diffusion_pytorch_model.safetensors.index.json` / `model.safetensors.index.json`. A variant
/// puts its name before the extension: `diffusion_pytorch_model.fp16.safetensors`,
/// `model.safetensors.index.fp16.json`. Full precision is preferred when both exist unless a
/// variant is asked for; whichever is asked for, the other is used when it is all there is.
/// PyTorch pickle files (`.bin`, `.ckpt`, `.pt`, `.pth`) are refused: loading one can run code.
public struct DiffusersComponent: Sendable {
    /// Where the weights are.
    public enum Weights: Equatable, Sendable {
        /// One safetensors file.
        case file(String)
        /// A `*.safetensors.index.json` naming shards beside it.
        case sharded(index: String)
    }

    /// The component folder, e.g. `models/sd15/unet`.
    public let folder: String
    /// The path of its `config.json`.
    public let configPath: String
    /// The weights chosen.
    public let weights: Weights
    /// The variant of the weights chosen (`"fp16"`), nil for the plain files.
    public let variant: String?

    /// The weight file names diffusers and transformers write, most preferred first.
    static let weightNames = ["diffusion_pytorch_model.safetensors", "model.safetensors"]
    /// The index file names of sharded checkpoints, most preferred first.
    static let indexNames = ["diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json"]
    /// Extensions of PyTorch pickle checkpoints.
    static let pickleExtensions: Set<String> = ["bin", "ckpt", "pt", "pth"]

    /// The files that hold its weights (the index of a sharded one), for the model hash.
    public var weightFiles: [String] {
        switch weights {
        case .file(let file): [file]
        case .sharded(let index): [index]
        }
    }

    /// Component `component` (`"unet"`) of the diffusers model folder `model`.
    public init(model: String, component: String, variant: String? = nil) throws(CheckpointError) {
        guard Self.isDirectory(model) else {
            let problem = FileManager.default.fileExists(atPath: model)
                ? "not a folder (a diffusers model is a folder with unet/, vae/, text_encoder/)" : "no such model folder"
            throw CheckpointError(path: model, reason: .missing(problem))
        }
        let folder = URL(fileURLWithPath: model).appendingPathComponent(component).path
        guard Self.isDirectory(folder) else {
            throw CheckpointError(path: model, reason: .missing("no \(component)/ folder in this model folder"))
        }
        try self.init(folder: folder, variant: variant)
    }

    /// The component in `folder`, preferring weights of `variant` (nil: full precision).
    public init(folder: String, variant: String? = nil) throws(CheckpointError) {
        guard Self.isDirectory(folder) else {
            let problem = FileManager.default.fileExists(atPath: folder) ? "not a folder" : "no such component folder"
            throw CheckpointError(path: folder, reason: .missing(problem))
        }
        let contents = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        guard contents.contains("config.json") else {
            throw CheckpointError(path: folder, reason: .missing("no config.json in this component folder"))
        }
        let url = URL(fileURLWithPath: folder)
        guard let (weights, found) = Self.chooseWeights(in: contents, variant: variant) else {
            if let pickle = contents.sorted().first(where: { Self.pickleExtensions.contains(($0 as NSString).pathExtension) }) {
                throw CheckpointError(path: url.appendingPathComponent(pickle).path, reason: .pickle)
            }
            throw CheckpointError(path: folder, reason: .missing(
                "no weights: looked for diffusion_pytorch_model.safetensors, model.safetensors, their variants "
                    + "such as .fp16.safetensors, and sharded .safetensors.index.json files"))
        }
        self.folder = folder
        self.configPath = url.appendingPathComponent("config.json").path
        switch weights {
        case .file(let name): self.weights = .file(url.appendingPathComponent(name).path)
        case .sharded(let name): self.weights = .sharded(index: url.appendingPathComponent(name).path)
        }
        self.variant = found
    }

    /// Reads, decodes and validates `config.json` as `type`; errors name the file.
    public func loadConfig<Config: DiffusersConfig>(_ type: Config.Type) throws(CheckpointError) -> Config {
        let config = try Config.read(from: configPath)
        do {
            try config.validate()
        } catch {
            throw error.at(configPath)
        }
        return config
    }

    /// Opens the weights (maps the file or every shard).
    public func openWeights() throws(CheckpointError) -> any WeightSource {
        switch weights {
        case .file(let path): try SafetensorsFile(path: path)
        case .sharded(let index): try ShardedWeights(indexPath: index)
        }
    }

    /// The weights to use among the file names of a folder, file names only, and their variant.
    static func chooseWeights(in contents: Set<String>, variant: String?) -> (Weights, String?)? {
        let available = variants(in: contents)
        var order: [String?] = variant.map { [$0, nil] } ?? [nil]
        // Then any other variant: fp16 first, the rest by name.
        order += available.sorted { ($0 == "fp16" ? 0 : 1, $0) < ($1 == "fp16" ? 0 : 1, $1) }.map { $0 }
        for candidate in order {
            for name in weightNames where contents.contains(withVariant(name, candidate)) {
                return (.file(withVariant(name, candidate)), candidate)
            }
            for name in indexNames where contents.contains(withVariant(name, candidate)) {
                return (.sharded(index: withVariant(name, candidate)), candidate)
            }
        }
        return nil
    }

    /// diffusers' `_add_variant`: the variant goes before the last extension,
    /// `model.safetensors` -> `model.fp16.safetensors`, `x.safetensors.index.json` -> `x.safetensors.index.fp16.json`.
    static func withVariant(_ name: String, _ variant: String?) -> String {
        guard let variant, let dot = name.lastIndex(of: ".") else { return name }
        return name[..<dot] + "." + variant + name[dot...]
    }

    /// Variants present for any of the known weight or index names.
    private static func variants(in contents: Set<String>) -> Set<String> {
        var found: Set<String> = []
        for name in weightNames + indexNames {
            guard let dot = name.lastIndex(of: ".") else { continue }
            let head = name[..<dot] + ".", tail = String(name[dot...])
            for file in contents where file.hasPrefix(head) && file.hasSuffix(tail) && file.count > head.count + tail.count {
                let variant = file.dropFirst(head.count).dropLast(tail.count)
                if !variant.contains(".") { found.insert(String(variant)) }
            }
        }
        return found
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
