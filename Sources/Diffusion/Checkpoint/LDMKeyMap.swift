/// The names of one model component in the original CompVis/LDM layout of single-file Stable
/// Diffusion checkpoints, next to the diffusers/transformers names our models read. Both directions
/// come from one table of modules (a layer or block under its two names) and, per module, how the
/// parameter names inside it change:
///
///     input_blocks.1.0  <->  down_blocks.0.resnets.0    in_layers.0 <-> norm1, in_layers.2 <-> conv1, ...
///     input_blocks.1.1  <->  down_blocks.0.attentions.0 (same names inside)
///
/// Names are relative to the component's prefix in the file (`model.diffusion_model.`). The tables
/// for the UNet, the VAE and the two text encoders are in `LDMKeyMap+Layouts.swift`.
struct LDMKeyMap: Sendable {
    /// One module under both names.
    struct Module: Sendable {
        /// Its name in the LDM layout ("" for the component's root).
        var ldm: String
        /// Its diffusers name ("" for the root).
        var diffusers: String
        /// How the names inside it change; nil when they are the same in both layouts.
        var leaves: [Leaf]?
    }

    /// One parameter (or sub-module) renamed inside a module.
    struct Leaf: Sendable {
        /// Its LDM name, e.g. `in_layers.2`, or a whole parameter such as `attn.in_proj_weight`.
        var ldm: String
        /// Its diffusers name, e.g. `conv1`.
        var diffusers: String
        /// How the stored tensor becomes the diffusers one.
        var transform: LDMTransform = .none
    }

    let modules: [Module]
    private let byLDM: [String: Int]
    private let byDiffusers: [String: Int]

    /// A map from its modules; a module named twice keeps its first entry.
    init(_ modules: [Module]) {
        self.modules = modules
        var byLDM: [String: Int] = [:], byDiffusers: [String: Int] = [:]
        for (index, module) in modules.enumerated() {
            if byLDM[module.ldm] == nil { byLDM[module.ldm] = index }
            if byDiffusers[module.diffusers] == nil { byDiffusers[module.diffusers] = index }
        }
        self.byLDM = byLDM
        self.byDiffusers = byDiffusers
    }

    /// The diffusers names an LDM tensor is read as, with how; empty when no module holds it.
    /// Usually one name; OpenCLIP's fused `in_proj_weight` gives three (q, k, v).
    func diffusersNames(of ldmName: String) -> [(name: String, transform: LDMTransform)] {
        guard let (module, leaf) = Self.innermost(ldmName, in: byLDM).map({ (modules[$0], $1) }) else { return [] }
        guard let leaves = module.leaves else { return [(Self.join(module.diffusers, leaf), .none)] }
        return leaves.compactMap { rule in
            Self.replacing(rule.ldm, with: rule.diffusers, in: leaf).map { (Self.join(module.diffusers, $0), rule.transform) }
        }
    }

    /// The LDM tensor a diffusers name is read from, with how; nil when no module holds it.
    func ldmName(of diffusersName: String) -> (name: String, transform: LDMTransform)? {
        guard let (module, leaf) = Self.innermost(diffusersName, in: byDiffusers).map({ (modules[$0], $1) }) else { return nil }
        guard let leaves = module.leaves else { return (Self.join(module.ldm, leaf), .none) }
        for rule in leaves {
            if let renamed = Self.replacing(rule.diffusers, with: rule.ldm, in: leaf) {
                return (Self.join(module.ldm, renamed), rule.transform)
            }
        }
        return nil
    }

    /// The innermost module whose name is `name` or a dotted prefix of it ("" last), and the rest of the name.
    private static func innermost(_ name: String, in table: [String: Int]) -> (Int, leaf: String)? {
        var prefix = Substring(name)
        while true {
            if let index = table[String(prefix)] {
                let leaf = prefix.isEmpty ? name : String(name.dropFirst(prefix.count).drop { $0 == "." })
                return (index, leaf)
            }
            guard !prefix.isEmpty else { return nil }
            prefix = prefix.lastIndex(of: ".").map { prefix[..<$0] } ?? ""
        }
    }

    /// `leaf` with its leading `old` (the whole of it, or up to a dot) replaced by `new`; nil when it does not start so.
    private static func replacing(_ old: String, with new: String, in leaf: String) -> String? {
        if leaf == old { return new }
        guard leaf.hasPrefix(old + ".") else { return nil }
        return new + leaf.dropFirst(old.count)
    }

    private static func join(_ module: String, _ leaf: String) -> String {
        module.isEmpty ? leaf : leaf.isEmpty ? module : module + "." + leaf
    }
}

/// How a tensor stored in a single file becomes the tensor a diffusers model reads. Each but
/// `transposed` keeps the bytes contiguous, so a mapped tensor is a byte range of the file.
enum LDMTransform: Equatable, Sendable {
    /// The same tensor.
    case none
    /// A 1x1 convolution weight [O, I, 1, 1] (or [O, I, 1]) read as the linear weight [O, I] (the
    /// VAE's mid-block attention); tensors of rank 2 or less are unchanged.
    case convToLinear
    /// Part `index` of `count` equal runs of rows (first dimension): OpenCLIP's fused q, k, v.
    case rows(index: Int, count: Int)
    /// A matrix stored transposed, [in, out] for the linear weight [out, in]: OpenCLIP's
    /// `text_projection`, applied as `x @ P`. The one transform that is not a byte range: the
    /// (small) matrix is read into memory, transposed.
    case transposed

    /// The shape read from a tensor stored at `stored`; nil when the transform does not fit it.
    func shape(from stored: [Int]) -> [Int]? {
        switch self {
        case .none:
            return stored
        case .convToLinear:
            guard stored.count > 2 else { return stored }
            return stored.dropFirst(2).allSatisfy { $0 == 1 } ? Array(stored.prefix(2)) : nil
        case .rows(_, let count):
            guard let rows = stored.first, rows % count == 0 else { return nil }
            return [rows / count] + stored.dropFirst()
        case .transposed:
            return stored.count == 2 ? stored.reversed() : nil
        }
    }

    /// The part of the stored tensor's `elementCount` elements that is read.
    func elements(of elementCount: Int) -> Range<Int> {
        switch self {
        case .none, .convToLinear, .transposed:
            return 0..<elementCount
        case .rows(let index, let count):
            let part = elementCount / count
            return (index * part)..<((index + 1) * part)
        }
    }
}
