import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Our CLIP text encoder, UNet and VAE against diffusers/transformers on tiny random-weight
/// models. Fixtures: `.venv-ref/bin/python tools/make_parity_fixtures.py Tests/DiffusionTests/Fixtures/parity`
/// Bar: max |ours - reference| <= 1e-4 x max |reference| per output.
@Suite struct ModelParityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/parity")
    static let models = ["sd1", "sd2", "sd1-fp16"]

    static func variant(_ model: String) -> String? { model.hasSuffix("fp16") ? "fp16" : nil }

    static func reference(_ model: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: root.appendingPathComponent(model).appendingPathComponent("reference.safetensors").path)
    }

    static func component(_ model: String, _ name: String) throws -> DiffusersComponent {
        try DiffusersComponent(folder: root.appendingPathComponent(model).appendingPathComponent(name).path, variant: variant(model))
    }

    /// max |a - b| / max |b|
    static func relativeError(_ ours: Tensor, _ reference: Tensor) -> Float {
        #expect(ours.shape == reference.shape)
        guard ours.shape == reference.shape else { return .infinity }
        let scale = reference.storage.map(abs).max() ?? 1
        let worst = zip(ours.storage, reference.storage).map { abs($0 - $1) }.max() ?? 0
        return worst / max(scale, 1e-12)
    }

    /// The token ids, stored as int64 [2, 77].
    static func tokenIDs(_ reference: SafetensorsFile, path: String) throws -> [[Int]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any]
        let entry = try #require(header?["text.input_ids"] as? [String: Any])
        #expect(entry["dtype"] as? String == "I64")
        let shape = try #require(entry["shape"] as? [Int]), offsets = try #require(entry["data_offsets"] as? [Int])
        let start = 8 + headerLength + offsets[0]
        let values = (0..<(shape[0] * shape[1])).map { i in
            data.subdata(in: (start + 8 * i)..<(start + 8 * i + 8)).withUnsafeBytes { Int(Int64(littleEndian: $0.loadUnaligned(as: Int64.self))) }
        }
        return (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
    }

    @Test(arguments: models)
    func textEncoderMatchesTransformers(model: String) throws {
        let reference = try Self.reference(model)
        let component = try Self.component(model, "text_encoder")
        let encoder = try CLIPTextModel(config: component.loadConfig(CLIPTextConfig.self), weights: component.openWeights())
        let tokens = try Self.tokenIDs(reference, path: Self.root.appendingPathComponent(model).appendingPathComponent("reference.safetensors").path)
        let states = encoder.hiddenStates(tokens: tokens)
        for (i, state) in states.enumerated() {
            let error = Self.relativeError(state, try reference.tensor("text.hidden_states.\(i)"))
            #expect(error <= 1e-4, "\(model) hidden state \(i): relative error \(error)")
        }
        let last = Self.relativeError(encoder.encode(tokens: tokens), try reference.tensor("text.last_hidden_state"))
        let skip = Self.relativeError(encoder.encode(tokens: tokens, skipLayers: 1), try reference.tensor("text.clip_skip2"))
        #expect(last <= 1e-4, "\(model) last_hidden_state: \(last)")
        #expect(skip <= 1e-4, "\(model) clip skip 2: \(skip)")
    }

    @Test(arguments: models)
    func unetMatchesDiffusers(model: String) throws {
        let reference = try Self.reference(model)
        let component = try Self.component(model, "unet")
        let unet = try UNet2DConditionModel(config: component.loadConfig(UNet2DConditionConfig.self), weights: component.openWeights())
        let sample = try reference.tensor("unet.sample"), context = try reference.tensor("unet.encoder_hidden_states")
        let embedding = unet.timeEmbedding([500, 500])
        let embeddingError = Self.relativeError(embedding, try reference.tensor("unet.time_embedding.t500"))
        #expect(embeddingError <= 1e-4, "\(model) time embedding: \(embeddingError)")
        for t in [1, 500, 999] {
            let both = unet(sample, timesteps: [Float(t), Float(t)], context: context)
            let error2 = Self.relativeError(both, try reference.tensor("unet.out.t\(t).batch2"))
            #expect(error2 <= 1e-4, "\(model) t=\(t) batch 2: \(error2)")
            let one = unet(Self.first(sample), timesteps: [Float(t)], context: Self.first(context))
            let error1 = Self.relativeError(one, try reference.tensor("unet.out.t\(t).batch1"))
            #expect(error1 <= 1e-4, "\(model) t=\(t) batch 1: \(error1)")
        }
    }

    @Test(arguments: models)
    func vaeMatchesDiffusers(model: String) throws {
        let reference = try Self.reference(model)
        let component = try Self.component(model, "vae")
        let vae = try AutoencoderKL(config: component.loadConfig(AutoencoderKLConfig.self), weights: component.openWeights())
        let (mean, logvar) = vae.encode(try reference.tensor("vae.image"))
        let meanError = Self.relativeError(mean, try reference.tensor("vae.encode.mean"))
        let logvarError = Self.relativeError(logvar, try reference.tensor("vae.encode.logvar"))
        let decoded = vae.decode(try reference.tensor("vae.latent"))
        let decodeError = Self.relativeError(decoded, try reference.tensor("vae.decode"))
        #expect(meanError <= 1e-4, "\(model) encode mean: \(meanError)")
        #expect(logvarError <= 1e-4, "\(model) encode logvar: \(logvarError)")
        #expect(decodeError <= 1e-4, "\(model) decode: \(decodeError)")
    }

    /// The first item of a batch: [N, ...] -> [1, ...]
    static func first(_ x: Tensor) -> Tensor {
        let size = x.count / x.shape[0]
        return Tensor(shape: [1] + x.shape.dropFirst(), values: Array(x.storage[0..<size]))
    }
}
