import Foundation

/// What a generation runs on: a model loaded into the embedded engine, or a checkpoint a
/// generation server (ComfyUI, an A1111-compatible API) holds, named as that server names it.
/// The studio and `generate` keep one of these as "the model"; a `GenerationBackend` takes the
/// kind it runs (the embedded engine refuses a server's checkpoint, and a server a loaded model).
public enum ModelTarget: Sendable {
    case embedded(StableDiffusionModel)
    case remote(RemoteCheckpoint)

    /// The name written into images' `Model` field and shown in the panel.
    public var name: String {
        switch self {
        case .embedded(let model): model.name
        case .remote(let checkpoint): checkpoint.name
        }
    }

    public var family: ModelFamily {
        switch self {
        case .embedded(let model): model.family
        case .remote(let checkpoint): checkpoint.family
        }
    }

    /// The size generated when a request names none.
    public var nativeSize: Int {
        switch self {
        case .embedded(let model): model.nativeSize
        case .remote(let checkpoint): checkpoint.nativeSize
        }
    }

    /// The loaded model, for the embedded engine.
    public var embedded: StableDiffusionModel? {
        if case .embedded(let model) = self { return model }
        return nil
    }

    /// What the few-step preset and the TAESD choices read of the model. A server's checkpoint
    /// has no tiny decoder stipple could load; whether its server previews with TAESD is the
    /// server's affair.
    public var fewStepTraits: FewStepPreset.Model {
        switch self {
        case .embedded(let model): FewStepPreset.Model(model)
        case .remote(let checkpoint): FewStepPreset.Model(name: checkpoint.name, path: checkpoint.name)
        }
    }
}

/// A checkpoint on a generation server. The servers' lists name checkpoints by file name and
/// say nothing of their architecture, so the family is guessed from the name (`xl`, `pony`,
/// `illustrious`... mean SDXL; `v2`, `768` mean SD 2.x); it only picks the default size and
/// the size presets, and the panel marks it as a guess.
public struct RemoteCheckpoint: Sendable, Equatable {
    /// The server's own name for it: ComfyUI's `ckpt_name` (`sd15.safetensors`,
    /// `SDXL/juggernaut.safetensors`), A1111's `title` (`v1-5-pruned [6ce0161689]`).
    public var name: String
    /// A1111's short hash, when the server gives one.
    public var hash: String?
    public var family: ModelFamily
    /// Which server holds it: `ComfyUI 0.8.0`, `stable-diffusion.cpp`.
    public var server: String

    public init(name: String, hash: String? = nil, server: String, family: ModelFamily? = nil) {
        self.name = name
        self.hash = hash
        self.server = server
        self.family = family ?? Self.guessFamily(name: name)
    }

    public var nativeSize: Int { family.nativeSize }

    /// The family a checkpoint's file name suggests: SDXL for `xl`, Pony, Illustrious, NoobAI,
    /// Animagine (SDXL fine-tunes whose names seldom say so); SD 2.x for `v2-`, `sd2`, `768-v`;
    /// else SD 1.x, the most common.
    public static func guessFamily(name: String) -> ModelFamily {
        let lower = name.lowercased()
        let file = lower.split(separator: "/").last.map(String.init) ?? lower
        if ["xl", "pony", "illustrious", "noob", "animagine"].contains(where: { file.contains($0) }) { return .sdxl }
        if ["v2-", "v2_", "sd2", "sd-2", "768-v", "v2.", "2-1", "2.1"].contains(where: { file.contains($0) }) { return .sd2 }
        return .sd1
    }
}

extension ModelFamily {
    /// The size the family's base models were trained at.
    public var nativeSize: Int {
        switch self {
        case .sd1: 512
        case .sd2: 768
        case .sdxl: 1024
        }
    }
}

/// What a server said about an image it made, kept with the image: A1111's infotext (its own
/// `parameters` text, which stipple saves as it is), and texts to carry into the saved PNG
/// (ComfyUI's `prompt` graph, so ComfyUI opens the image again).
public struct ServerRecord: Sendable, Equatable {
    /// Which server made it: `ComfyUI 0.8.0`, `A1111 API (stable-diffusion.cpp)`.
    public var server: String
    /// The server's parameters text, when it gives one.
    public var infotext: String?
    /// Further PNG texts (key, value), written after `parameters`.
    public var texts: [PNGTextPair]

    public init(server: String, infotext: String? = nil, texts: [PNGTextPair] = []) {
        (self.server, self.infotext, self.texts) = (server, infotext, texts)
    }
}

/// A PNG text chunk's key and value (Diffusion knows no PNG; Studio writes these).
public struct PNGTextPair: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        (self.key, self.value) = (key, value)
    }
}
