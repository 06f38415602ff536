import Foundation
import Tensor

/// The part of a model a LoRA module adapts.
public enum LoRAComponent: String, Sendable, CaseIterable {
    /// The denoiser (UNet).
    case unet
    /// The (first) text encoder: SD 1.x / 2.x's only one, SDXL's CLIP-L.
    case textEncoder
    /// SDXL's second text encoder (OpenCLIP-bigG).
    case textEncoder2
}

/// One layer's low-rank update: `delta = alpha / rank · up @ down`, reshaped to the layer's
/// weight. Down is [rank, in] (a linear layer) or [rank, in, kh, kw] (a convolution: LoCon's
/// kxk part); up is [out, rank] or [out, rank, 1, 1].
struct LoRAModule: Sendable {
    /// The module's name in the file, as written (for messages).
    let key: String
    let down: StoredWeight
    let up: StoredWeight
    /// The module's alpha; nil when the file stores none (then alpha = rank, scale 1).
    let alpha: Float?
    /// PEFT's rank-stabilised scaling (`use_rslora`): alpha / sqrt(rank).
    let rankStabilised: Bool

    var rank: Int { down.shape[0] }
    /// Output features (the layer weight's first dimension).
    var outputs: Int { up.shape[0] }
    /// Elements of one output row of the update (in · kh · kw).
    var columns: Int { down.shape.dropFirst().reduce(1, *) }

    /// alpha / rank (alpha / sqrt(rank) for rsLoRA).
    var scale: Float {
        let alpha = alpha ?? Float(rank)
        return rankStabilised ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }
}

/// A LoRA file: low-rank updates of a model's linear and convolution layers, as people share them.
/// Formats read (told by their tensor names, see `Tests/DiffusionTests/Fixtures/lora/README.md`):
///
/// - kohya / A1111 (`lora_unet_…`, `lora_te_…`, SDXL `lora_te1_…` / `lora_te2_…`, with
///   `.lora_down.weight`, `.lora_up.weight`, `.alpha`), including LyCORIS LoCon, which adds
///   convolutions under the same names;
/// - diffusers / PEFT (`unet.….lora_A.weight` / `.lora_B.weight`, alpha from the
///   `lora_adapter_metadata` metadata, else alpha = rank);
/// - diffusers before PEFT (`unet.….lora.down.weight`, `text_encoder.….lora_linear_layer.down.weight`,
///   attention processors' `to_q_lora.down.weight`).
///
/// Other LyCORIS kinds (LoHa, LoKr, OFT, full-weight diffs), DoRA and LoCon's CP decomposition are
/// refused with a message naming the kind. Module names are kept "flat" (dots as underscores, the
/// text encoders' `text_model.` dropped), the form kohya writes; `LoRAPatchedWeights` looks a
/// model's layers up in that form.
public final class LoRAFile: Sendable {
    /// The file.
    public let path: String
    /// The name `<lora:NAME:…>` uses: the file name without `.safetensors`.
    public let name: String
    /// How its tensors are named.
    public let format: Format
    /// Per component, its modules by flat name.
    let modules: [LoRAComponent: [String: LoRAModule]]
    /// The base model the file says it was trained on (kohya's `ss_base_model_version` or
    /// `modelspec.architecture`), for messages.
    public let baseModel: String?
    /// Tensors that are not part of a LoRA module (A1111's bundled embeddings, `bundle_emb.…`,
    /// and anything else unknown): left out, and named in a warning.
    public let ignoredTensors: [String]
    /// The file's size and modification time when read (a changed file is read again).
    let identity: String
    /// " (the file says it is for BASE)" when it says, for messages about a LoRA that does not fit.
    var baseModelNote: String { baseModel.map { " (the file says it is for \($0))" } ?? "" }
    /// Keeps the mapping the weights are read from alive.
    private let file: SafetensorsFile

    /// The ways LoRA files name their tensors.
    public enum Format: String, Sendable {
        case kohya = "kohya"
        case locon = "LyCORIS LoCon"
        case peft = "diffusers/PEFT"
        case diffusersOld = "diffusers (pre-PEFT)"
    }

    /// Number of modules (layers adapted) over all components.
    public var moduleCount: Int { modules.values.reduce(0) { $0 + $1.count } }

    /// Weights of the layers the file adapts (a merge copies that many).
    public var adaptedWeightCount: Int {
        modules.values.reduce(0) { total, modules in total + modules.values.reduce(0) { $0 + $1.outputs * $1.columns } }
    }

    /// Components the file adapts.
    public var components: [LoRAComponent] { LoRAComponent.allCases.filter { !(modules[$0]?.isEmpty ?? true) } }

    /// Opens and reads the LoRA file at `path`; a file in another format, or a module with missing
    /// or mismatched parts, is an error naming the file.
    public init(path: String) throws(CheckpointError) {
        let file = try SafetensorsFile(path: path)
        self.file = file
        self.path = path
        identity = Self.identity(of: path)
        name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        baseModel = file.metadata["ss_base_model_version"] ?? file.metadata["modelspec.architecture"]
        let names = file.tensorNames
        guard !names.isEmpty else { throw CheckpointError(path: path, reason: .invalidConfig("no tensors: not a LoRA file")) }
        if let kind = Self.unsupportedKind(names: names, metadata: file.metadata) {
            throw CheckpointError(path: path, reason: .unsupportedConfig(
                key: "LoRA kind", value: kind, note: "\(kind) is not supported (only LoRA and LyCORIS LoCon)"))
        }
        let parsed = try Self.parse(file: file, names: names)
        format = parsed.format
        modules = parsed.modules
        ignoredTensors = parsed.ignored
    }

    /// Size and modification time of the file at `path` ("" when it cannot be read).
    static func identity(of path: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "" }
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(size):\(modified)"
    }

    /// The module adapting the layer `flatName` of `component`, if the file has one.
    func module(_ component: LoRAComponent, _ flatName: String) -> LoRAModule? {
        modules[component]?[flatName]
    }

    /// Every module's flat name, per component.
    func flatNames(_ component: LoRAComponent) -> [String] {
        modules[component].map { Array($0.keys) } ?? []
    }

    /// A1111's short hash of a LoRA (its infotext's `Lora hashes`): the first 12 hex digits of the
    /// SHA-256 of the file's bytes after the safetensors header (kohya's `sshs_model_hash`,
    /// A1111's "addnet" hash), cached as model hashes are.
    public func shortHash() throws -> String {
        String(try ModelHash.tensorData(file: file).prefix(12))
    }

    // MARK: - Reading the names

    /// The LyCORIS (or other) kind a file's names show that stipple does not apply; nil for LoRA and LoCon.
    static func unsupportedKind(names: [String], metadata: [String: String]) -> String? {
        for name in names {
            if name.contains(".hada_") { return "LyCORIS LoHa" }
            if name.contains(".lokr_") { return "LyCORIS LoKr" }
            if name.contains(".oft_") || name.contains("oft_blocks") || name.hasSuffix(".oft_diag") { return "LyCORIS OFT" }
            if name.hasSuffix(".diff") || name.hasSuffix(".diff_b") { return "LyCORIS full-weight diff" }
            if name.hasSuffix(".dora_scale") || name.contains("lora_magnitude_vector") { return "DoRA" }
            if name.hasSuffix(".lora_mid.weight") { return "LyCORIS LoCon with CP decomposition (lora_mid)" }
            if name.hasSuffix(".w_norm") || name.hasSuffix(".b_norm") || name.contains(".a1.weight") { return "LyCORIS GLoRA / norm" }
        }
        if let json = metadata["lora_adapter_metadata"], json.contains("\"use_dora\": true") || json.contains("\"use_dora\":true") {
            return "DoRA"
        }
        return nil
    }

    private struct Parts {
        var down: StoredWeight?
        var up: StoredWeight?
        var alpha: Float?
        var key: String
    }

    /// The modules of a LoRA or LoCon file, whatever its naming.
    private static func parse(file: SafetensorsFile, names: [String]) throws(CheckpointError)
        -> (format: Format, modules: [LoRAComponent: [String: LoRAModule]], ignored: [String]) {
        let path = file.path
        let peftConfig = try PEFTConfig(metadata: file.metadata, path: path)
        var parts: [LoRAComponent: [String: Parts]] = [:]
        var format: Format?
        var unknown: [String] = []
        for name in names {
            guard let (component, module, role, kind, key) = classify(name) else {
                unknown.append(name)
                continue
            }
            if let format, format != kind {
                throw CheckpointError(path: path, tensor: name, reason: .invalidConfig(
                    "mixes \(format.rawValue) and \(kind.rawValue) names; not a LoRA file stipple can read"))
            }
            format = kind
            var entry = parts[component, default: [:]][module] ?? Parts(key: key)
            switch role {
            case .down: entry.down = try file.storedWeight(name)
            case .up: entry.up = try file.storedWeight(name)
            case .alpha:
                let value = try file.tensor(name)
                guard value.count == 1, let alpha = value.storage.first, alpha.isFinite else {
                    throw CheckpointError(path: path, tensor: name, reason: .invalidConfig("an alpha must be one finite number"))
                }
                entry.alpha = alpha
            }
            parts[component, default: [:]][module] = entry
        }
        guard let format else {
            throw CheckpointError(path: path, reason: .invalidConfig(
                "no LoRA tensors (expected names such as lora_unet_….lora_down.weight or unet.….lora_A.weight; found "
                    + "\(unknown.prefix(2).joined(separator: ", "))\(unknown.count > 2 ? ", …" : ""))"))
        }
        var modules: [LoRAComponent: [String: LoRAModule]] = [:]
        for (component, entries) in parts {
            for (flat, entry) in entries {
                guard let down = entry.down, let up = entry.up else {
                    throw CheckpointError(path: path, tensor: entry.key, reason: .invalidConfig(
                        "has \(entry.down == nil ? "no down (A)" : "no up (B)") matrix"))
                }
                let rank = down.shape.first ?? 0
                guard rank > 0, [2, 4].contains(down.shape.count), [2, 4].contains(up.shape.count), up.shape[1] == rank,
                      up.shape.dropFirst(2).allSatisfy({ $0 == 1 }), up.shape[0] > 0, down.count > 0 else {
                    throw CheckpointError(path: path, tensor: entry.key, reason: .invalidConfig(
                        "down \(down.shape) and up \(up.shape) do not make a low-rank update"))
                }
                let alpha = entry.alpha ?? peftConfig?.alpha(component: component, module: flat)
                modules[component, default: [:]][flat] = LoRAModule(
                    key: entry.key, down: down, up: up, alpha: alpha, rankStabilised: peftConfig?.rankStabilised(component) ?? false)
            }
        }
        // LyCORIS writes LoCon under kohya's names; its metadata tells them apart (kohya's own
        // networks also adapt 3x3 convolutions, as the LCM-LoRA does).
        let lycoris = file.metadata["ss_network_module"]?.hasPrefix("lycoris") ?? false
        return (format == .kohya && lycoris ? .locon : format, modules, unknown)
    }

    private enum Role {
        case down, up, alpha
    }

    /// The component, flat module name, role, format and module key (the name before its LoRA
    /// suffix) of one tensor name; nil when it is none of the known forms.
    private static func classify(_ name: String) -> (LoRAComponent, String, Role, Format, String)? {
        // kohya: lora_unet_<flat>.lora_down.weight, lora_te_<flat>.alpha, ...
        for (prefix, component) in [("lora_unet_", LoRAComponent.unet), ("lora_te1_", .textEncoder), ("lora_te2_", .textEncoder2),
                                    ("lora_te_", .textEncoder)] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: ".") else { return nil }
            let role: Role
            switch rest[dot...] {
            case ".lora_down.weight": role = .down
            case ".lora_up.weight": role = .up
            case ".alpha": role = .alpha
            default: return nil
            }
            return (component, textFlat(String(rest[..<dot]), component), role, .kohya, String(name.prefix(prefix.count + rest.distance(from: rest.startIndex, to: dot))))
        }
        // diffusers: unet.<module>..., text_encoder.<module>..., text_encoder_2.<module>...
        var component = LoRAComponent.unet
        var rest = Substring(name)
        for (prefix, c) in [("unet.", LoRAComponent.unet), ("text_encoder_2.", .textEncoder2), ("text_encoder.", .textEncoder)]
        where name.hasPrefix(prefix) {
            component = c
            rest = name.dropFirst(prefix.count)
            break
        }
        let forms: [(String, Role, Format)] = [
            (".lora_A.weight", .down, .peft), (".lora_B.weight", .up, .peft), (".alpha", .alpha, .peft),
            (".lora.down.weight", .down, .diffusersOld), (".lora.up.weight", .up, .diffusersOld),
            (".lora_linear_layer.down.weight", .down, .diffusersOld), (".lora_linear_layer.up.weight", .up, .diffusersOld),
            ("_lora.down.weight", .down, .diffusersOld), ("_lora.up.weight", .up, .diffusersOld),
        ]
        for (suffix, role, format) in forms where rest.hasSuffix(suffix) {
            var module = String(rest.dropLast(suffix.count))
            if suffix.hasPrefix("_lora") {
                // Attention processors: <attention>.processor.to_q_lora -> <attention>.to_q (text: q_proj).
                guard let dot = module.lastIndex(of: ".") else { return nil }
                let projection = String(module[module.index(after: dot)...])
                var attention = String(module[..<dot])
                if attention.hasSuffix(".processor") { attention = String(attention.dropLast(".processor".count)) }
                let unetNames = ["to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"]
                let textNames = ["to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out": "out_proj"]
                guard let renamed = (component == .unet ? unetNames : textNames)[projection] else { return nil }
                module = attention + "." + renamed
            }
            return (component, textFlat(module.replacingOccurrences(of: ".", with: "_"), component), role, format,
                    String(name.dropLast(suffix.count)))
        }
        return nil
    }

    /// A text encoder's flat module name without transformers' `text_model_` (files name it both ways).
    static func textFlat(_ flat: String, _ component: LoRAComponent) -> String {
        component != .unet && flat.hasPrefix("text_model_") ? String(flat.dropFirst("text_model_".count)) : flat
    }
}

/// What a diffusers/PEFT file's `lora_adapter_metadata` says about scaling: per component
/// `lora_alpha`, `r`, `alpha_pattern` and `use_rslora`.
private struct PEFTConfig {
    struct Component {
        var alpha: Float?
        /// `alpha_pattern`'s entries as regular expressions over flat module names.
        var patterns: [(NSRegularExpression, Float)]
        var rankStabilised: Bool
    }

    var components: [LoRAComponent: Component] = [:]

    init?(metadata: [String: String], path: String) throws(CheckpointError) {
        guard let text = metadata["lora_adapter_metadata"] else { return nil }
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw CheckpointError(path: path, reason: .invalidConfig("lora_adapter_metadata is not a JSON object"))
        }
        for (prefix, component) in [("unet", LoRAComponent.unet), ("text_encoder", .textEncoder), ("text_encoder_2", .textEncoder2)] {
            var entry = Component(alpha: (json[prefix + ".lora_alpha"] as? NSNumber)?.floatValue, patterns: [],
                                  rankStabilised: (json[prefix + ".use_rslora"] as? Bool) ?? false)
            for (pattern, value) in (json[prefix + ".alpha_pattern"] as? [String: Any]) ?? [:] {
                // PEFT matches a pattern against the end of the dotted module name; module names
                // are kept flat here, so the pattern's dots become underscores too.
                let flat = pattern.replacingOccurrences(of: ".", with: "_")
                guard let alpha = (value as? NSNumber)?.floatValue,
                      let regex = try? NSRegularExpression(pattern: "^(.*_)?(" + flat + ")$") else { continue }
                entry.patterns.append((regex, alpha))
            }
            if entry.alpha != nil || !entry.patterns.isEmpty || entry.rankStabilised { components[component] = entry }
        }
    }

    /// The alpha for a module (flat name); nil: none stated (alpha = rank).
    func alpha(component: LoRAComponent, module flat: String) -> Float? {
        guard let entry = components[component] else { return nil }
        for (regex, alpha) in entry.patterns where regex.firstMatch(in: flat, range: NSRange(flat.startIndex..., in: flat)) != nil {
            return alpha
        }
        return entry.alpha
    }

    func rankStabilised(_ component: LoRAComponent) -> Bool {
        components[component]?.rankStabilised ?? false
    }
}
