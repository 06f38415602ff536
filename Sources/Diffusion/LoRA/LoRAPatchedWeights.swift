import Foundation
import Parallel
import Tensor

/// How LoRAs reach the layers they adapt (`--lora-apply`).
public enum LoRAApplication: String, Sendable, CaseIterable {
    /// Run beside each adapted layer at every call (the low-rank product): no copy of any weight,
    /// a little more work per step (the default: see DECISIONS.md).
    case runtime
    /// Added into copies of the adapted layers once, kept in the weights' own precision: no cost
    /// per step; the copies take memory of their own (the base stays in the file mapping).
    case merge
}

/// One LoRA file and the weights a prompt gives it: `<lora:NAME:W>` gives W to both the text
/// encoders and the UNet; A1111's `<lora:NAME:TE:UNET>` (or `te=`, `unet=`) gives them apart.
public struct LoRAUse: Sendable {
    public let file: LoRAFile
    public let textWeight: Float
    public let unetWeight: Float

    public init(file: LoRAFile, textWeight: Float, unetWeight: Float) {
        self.file = file
        self.textWeight = textWeight
        self.unetWeight = unetWeight
    }

    func weight(for component: LoRAComponent) -> Float {
        component == .unet ? unetWeight : textWeight
    }
}

/// Which modules of which LoRA the layers of a model found, to report the ones that matched nothing.
final class LoRAMatchLog: Sendable {
    private let matched = Locked<Set<String>>([])

    func record(lora: Int, component: LoRAComponent, flat: String) {
        matched.withLock { _ = $0.insert("\(lora)/\(component.rawValue)/\(flat)") }
    }

    func contains(lora: Int, component: LoRAComponent, flat: String) -> Bool {
        matched.withLock { $0.contains("\(lora)/\(component.rawValue)/\(flat)") }
    }
}

/// A model component's weights with LoRAs merged in: each Linear / Conv2d weight a LoRA module
/// adapts is given as `W + Σ weight · alpha / rank · up @ down`, computed in Float32 from the
/// stored weight and kept in the stored weight's own precision (a half-precision checkpoint's
/// merged layers take 2 bytes a weight, as before); every other tensor is the base's, read in
/// place as before. The base is never changed, so the same mapping serves the model without
/// LoRAs and with any other set.
///
/// A layer is found by its diffusers name made flat (`down_blocks_0_attentions_0_proj_in`), and for
/// the UNet also by its LDM/SGM name (`input_blocks_1_1_proj_in`: how kohya names SDXL's UNet and
/// some SD 1.x files).
struct LoRAPatchedWeights: WeightSource {
    let base: any WeightSource
    let component: LoRAComponent
    let loras: [LoRAUse]
    /// The UNet's LDM names, for LoRAs that use them.
    let ldmNames: LDMKeyMap?
    let log: LoRAMatchLog
    /// Merged into the weights, or run beside the layers.
    let application: LoRAApplication

    var tensorNames: [String] { base.tensorNames }
    func info(_ name: String) -> TensorInfo? { base.info(name) }
    var loadedTensorNames: Set<String> { base.loadedTensorNames }

    func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        try base.tensor(name, shape: shape)
    }

    func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        let stored = try base.storedWeight(name, shape: shape)
        guard application == .merge, name.hasSuffix(".weight"), shape.count == 2 || shape.count == 4 else { return stored }
        let updates = self.updates(module: String(name.dropLast(".weight".count)))
        guard !updates.isEmpty else { return stored }
        return try Self.merged(stored, updates: updates)
    }

    func lowRankAdapters(_ module: String) throws(CheckpointError) -> [LowRankAdapter] {
        let own = try base.lowRankAdapters(module)
        guard application == .runtime else { return own }
        return own + updates(module: module).map { LowRankAdapter($0.module, weight: $0.weight, file: $0.file) }
    }

    /// The LoRA modules (with their weights) that adapt `module`, recorded in the log.
    func updates(module: String) -> [(module: LoRAModule, weight: Float, file: LoRAFile)] {
        var names = [LoRAFile.textFlat(module.replacingOccurrences(of: ".", with: "_"), component)]
        if let ldm = ldmNames?.ldmName(of: module + ".weight"), ldm.name.hasSuffix(".weight") {
            names.append(String(ldm.name.dropLast(".weight".count)).replacingOccurrences(of: ".", with: "_"))
        }
        var found: [(LoRAModule, Float, LoRAFile)] = []
        for (index, use) in loras.enumerated() {
            for flat in names {
                guard let update = use.file.module(component, flat) else { continue }
                log.record(lora: index, component: component, flat: flat)
                let weight = use.weight(for: component)
                if weight != 0 { found.append((update, weight, use.file)) }
                break
            }
        }
        return found
    }

    /// The error for a module whose shapes do not fit the `rows` x `columns` layer it names.
    static func misfit(file: LoRAFile, key: String, rows: Int, columns: Int, up: [Int], down: [Int]) -> CheckpointError {
        CheckpointError(path: file.path, tensor: key, reason: .invalidConfig(
            "updates a layer of \(rows)x\(columns) with up \(up) @ down \(down): a LoRA for another kind of model\(file.baseModelNote)"))
    }

    /// `stored` with `updates` added, in `stored`'s precision.
    static func merged(_ stored: StoredWeight, updates: [(module: LoRAModule, weight: Float, file: LoRAFile)])
        throws(CheckpointError) -> StoredWeight {
        let rows = stored.shape[0], columns = stored.count / max(1, rows)
        for (update, _, file) in updates where update.outputs != rows || update.columns != columns {
            throw misfit(file: file, key: update.key, rows: rows, columns: columns, up: update.up.shape, down: update.down.shape)
        }
        // The Float32 work is done in pooled scratch (fresh memory for every layer would fault in
        // every page of it); only the merged weight, in the stored precision, is memory of its own.
        return ScratchPool.shared.withBuffer(count: stored.count) { base in
            stored.withFloat32 { base.update(from: $0, count: stored.count) }
            for (update, weight, _) in updates {
                var up = Tensor(zeros: [rows, update.rank])
                up.storage.withUnsafeMutableBufferPointer { p in update.up.withFloat32 { p.baseAddress!.update(from: $0, count: p.count) } }
                let scale = weight * update.scale
                for i in up.storage.indices { up.storage[i] *= scale }
                var down = Tensor(zeros: [update.rank, columns])
                down.storage.withUnsafeMutableBufferPointer { p in update.down.withFloat32 { p.baseAddress!.update(from: $0, count: p.count) } }
                addProduct(up, down, to: base)
            }
            switch stored.dtype {
            case .f16: return StoredWeight.narrowed(base, shape: stored.shape, to: .f16)
            case .bf16: return StoredWeight.narrowed(base, shape: stored.shape, to: .bf16)
            default: return StoredWeight(Tensor(shape: stored.shape, values: Array(UnsafeBufferPointer(start: base, count: stored.count))))
            }
        }
    }
}

/// A LoRA module applied at run time, beside its layer: the layer's output plus
/// `up · (down applied to the input)`, the scale (weight · alpha / rank) folded into `up`.
public struct LowRankAdapter: Sendable {
    /// [rank, in] or [rank, in, kh, kw].
    let down: StoredWeight
    /// [out, rank], scaled.
    let up: StoredWeight
    let file: LoRAFile
    let key: String

    init(_ module: LoRAModule, weight: Float, file: LoRAFile) {
        down = module.down
        var up = Tensor(zeros: [module.outputs, module.rank])
        let scale = weight * module.scale
        up.storage.withUnsafeMutableBufferPointer { p in module.up.withFloat32 { p.baseAddress!.update(from: $0, count: p.count) } }
        for i in up.storage.indices { up.storage[i] *= scale }
        self.up = StoredWeight(up)
        self.file = file
        key = module.key
    }

    /// Refuses an adapter whose shapes do not fit a layer of `outputs` x `columns` (in · k · k).
    func check(outputs: Int, columns: Int, kernel: Int) throws(CheckpointError) {
        let downColumns = down.shape.dropFirst().reduce(1, *)
        guard up.shape[0] == outputs, downColumns == columns else {
            throw LoRAPatchedWeights.misfit(file: file, key: key, rows: outputs, columns: columns, up: up.shape, down: down.shape)
        }
    }
}
