import Foundation
import Parallel

/// How a model's weight-bearing parts are built from their weight sources, kept so they can be
/// built again with LoRAs merged into the weights (`StableDiffusionModel.withLoRAs`). Building
/// reads nothing heavy: large weights stay in the file mapping (or the converted UNet's memory is
/// made again), so a new set of LoRAs costs the merge of the layers they adapt, not a reload.
struct WeightedParts: Sendable {
    /// Wraps one component's weight source (LoRA merging); `unpatched` leaves it as it is.
    typealias Patch = @Sendable (LoRAComponent, any WeightSource) -> any WeightSource
    typealias TextBuilder = @Sendable (Patch) throws -> any TextConditioner
    typealias DenoiserBuilder = @Sendable (Patch) throws -> any Denoiser

    let conditioner: TextBuilder
    let denoiser: DenoiserBuilder
    /// The UNet's LDM/SGM names (kohya names SDXL's UNet layers by them).
    let unetLDMNames: LDMKeyMap

    static let unpatched: Patch = { $1 }
}

/// The model `withLoRAs` made last, and for what.
struct LoRACacheEntry: Sendable {
    let key: [String]
    let model: StableDiffusionModel
    let warnings: [String]
}

extension StableDiffusionModel {
    /// This model with `loras` merged into its text encoders' and UNet's weights (each at its own
    /// weight), and warnings for LoRA modules that adapt nothing in this model. The model itself is
    /// unchanged: generating without LoRAs, or with others, uses it again. The result is kept until
    /// another set is asked for, so a run with the same LoRAs at the same weights merges nothing.
    ///
    /// A LoRA none of whose modules fits this model (one made for another family) is an error
    /// naming it; so is a module whose shapes do not fit its layer.
    ///
    /// A merge whose copies of the adapted layers (at 2 bytes a weight) would take more than half
    /// the memory `available` runs at run time instead, with a warning: slower steps, no copies.
    public func withLoRAs(_ loras: [LoRAUse], application asked: LoRAApplication = .runtime,
                          available: Double? = MemoryEstimate.availableBytes()) throws
        -> (model: StableDiffusionModel, warnings: [String]) {
        if loras.isEmpty {
            loraCache.withLock { $0 = nil }  // frees the merged weights
            return (self, [])
        }
        guard let parts else {
            throw CheckpointError(path: path, reason: .invalidConfig("this model was not loaded from weight files, so LoRAs cannot be applied to it"))
        }
        var application = asked, warnings: [String] = []
        // An upper bound: two LoRAs adapting one layer count it twice.
        let mergeBytes = Double(loras.reduce(0) { $0 + $1.file.adaptedWeightCount }) * 2
        if application == .merge, let available, mergeBytes > available / 2 {
            application = .runtime
            warnings.append(String(format: "merging the LoRAs would copy %.1f GB of weights with %.1f GB of memory available; "
                                   + "they run beside the layers instead (--lora-apply runtime: slower steps)",
                                   mergeBytes / 1e9, available / 1e9))
        }
        let key = [application.rawValue] + loras.map { "\($0.file.path)\u{0}\($0.file.identity)\u{0}\($0.textWeight)\u{0}\($0.unetWeight)" }
        if let cached = loraCache.withLock({ $0 }), cached.key == key { return (cached.model, warnings + cached.warnings) }
        // Drop the previous merge before making the next, so two are never held at once; a
        // converted UNet (`--weight-type`) is let go too (the patched one converts its own).
        loraCache.withLock { $0 = nil }
        denoiser.unload()
        let log = LoRAMatchLog()
        let (ldm, chosen) = (parts.unetLDMNames, application)
        let patch: WeightedParts.Patch = { component, source in
            LoRAPatchedWeights(base: source, component: component, loras: loras, ldmNames: component == .unet ? ldm : nil, log: log,
                               application: chosen)
        }
        let conditioner = try parts.conditioner(patch)
        let denoiser = try parts.denoiser(patch)
        var fileWarnings: [String] = []
        for (index, use) in loras.enumerated() {
            if let first = use.file.ignoredTensors.first {
                let count = use.file.ignoredTensors.count
                fileWarnings.append("LoRA \(use.file.name): \(count) tensor\(count == 1 ? "" : "s") that belong to no LoRA module "
                                + "\(count == 1 ? "is" : "are") left out (\(first)\(count > 1 ? ", …" : ""))")
            }
            var total = 0, unmatched: [String] = []
            for component in use.file.components {
                for flat in use.file.flatNames(component) {
                    total += 1
                    if !log.contains(lora: index, component: component, flat: flat) {
                        unmatched.append(use.file.module(component, flat)?.key ?? flat)
                    }
                }
            }
            guard !unmatched.isEmpty else { continue }
            if unmatched.count == total {
                throw CheckpointError(path: use.file.path, reason: .invalidConfig(
                    "none of its \(total) modules is a layer of this \(family.shortName) model: a LoRA for another kind of model\(use.file.baseModelNote)"))
            }
            unmatched.sort()
            fileWarnings.append("LoRA \(use.file.name): \(unmatched.count) of its \(total) modules match no layer of this model "
                            + "and are left out (\(unmatched.prefix(2).joined(separator: ", "))\(unmatched.count > 2 ? ", …" : ""))")
        }
        let model = try StableDiffusionModel(path: path, name: name, family: family, conditioner: conditioner, denoiser: denoiser,
                                             decoder: decoder, scheduler: scheduler, previewFactors: previewFactors,
                                             weightFiles: weightFiles, tinyDecoder: tinyDecoder, parts: nil)
        loraCache.withLock { $0 = LoRACacheEntry(key: key, model: model, warnings: fileWarnings) }
        return (model, warnings + fileWarnings)
    }
}
