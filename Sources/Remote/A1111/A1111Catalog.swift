import Diffusion
import Foundation

/// Which program answers the A1111 API. They share the routes and the reply envelope but differ
/// where it matters: stable-diffusion.cpp's `sd-server` has no progress, no interrupt, its own
/// sampler and scheduler names, LoRAs only in a structured field, and ignores
/// `override_settings`; A1111 before 1.9 has no separate scheduler.
public enum A1111Flavor: String, Sendable, Equatable {
    /// AUTOMATIC1111's stable-diffusion-webui, or a server that answers like it.
    case automatic1111
    /// lllyasviel's Forge (A1111 1.10's API; told by its `/sdapi/v1/sd-modules` route).
    case forge
    /// vladmandic's SD.Next (told by its `/sdapi/v1/version` route; diffusers' samplers under
    /// names of its own, read from its list).
    case sdNext
    /// stable-diffusion.cpp's `sd-server` (told by its native `/sdcpp/v1/capabilities`).
    case stableDiffusionCpp

    /// How status lines and saved images name the server.
    public var serverName: String {
        switch self {
        case .automatic1111: "A1111 API (AUTOMATIC1111)"
        case .forge: "A1111 API (Forge)"
        case .sdNext: "A1111 API (SD.Next)"
        case .stableDiffusionCpp: "stable-diffusion.cpp sd-server"
        }
    }
}

/// A checkpoint in `/sdapi/v1/sd-models`.
public struct A1111Checkpoint: Sendable, Equatable {
    /// `title`: what `override_settings.sd_model_checkpoint` takes (`v1-5-pruned-emaonly.safetensors
    /// [6ce0161689]`; sd-server: the file stem).
    public var title: String
    /// `model_name`: the file stem.
    public var modelName: String
    /// A1111's 10-hex short hash; nil when the server has not hashed it yet (or sd-server's
    /// placeholder `8888888888`).
    public var hash: String?
    /// The last component of `filename` (`v1-5-pruned-emaonly.safetensors`).
    public var fileName: String?

    public init(title: String, modelName: String, hash: String? = nil, fileName: String? = nil) {
        (self.title, self.modelName, self.hash, self.fileName) = (title, modelName, hash, fileName)
    }
}

/// A sampler in `/sdapi/v1/samplers`: its name and the other names it answers to.
public struct A1111Sampler: Sendable, Equatable {
    public var name: String
    public var aliases: [String]
    /// The schedule A1111's `Automatic` gives this sampler (`options.scheduler`: `karras` for
    /// DPM++ 2M, `exponential` for the SDE ones); nil: k-diffusion's own (uniform) one.
    public var automaticSchedule: String?

    public init(name: String, aliases: [String] = [], automaticSchedule: String? = nil) {
        (self.name, self.aliases, self.automaticSchedule) = (name, aliases, automaticSchedule)
    }

    /// Whether `text` names it (A1111 looks names and aliases up without regard to case).
    func answers(to text: String) -> Bool {
        let lowered = text.lowercased()
        return name.lowercased() == lowered || aliases.contains { $0.lowercased() == lowered }
    }
}

/// A scheduler in `/sdapi/v1/schedulers` (A1111 1.9+: `name` and `label`; sd-server: both its name).
public struct A1111Scheduler: Sendable, Equatable {
    public var name: String
    public var label: String

    public init(name: String, label: String) {
        (self.name, self.label) = (name, label)
    }
}

/// A LoRA in `/sdapi/v1/loras`: A1111 has `name`, `alias` and an absolute `path`; sd-server
/// `name` (the stem) and `path` relative to its LoRA folder, which its structured `lora` field takes.
public struct A1111LoRA: Sendable, Equatable {
    public var name: String
    public var alias: String?
    public var path: String?

    public init(name: String, alias: String? = nil, path: String? = nil) {
        (self.name, self.alias, self.path) = (name, alias, path)
    }
}

/// What an A1111-compatible server offers, for the model panel and for checking a request
/// before it is sent: its kind, checkpoints (and the loaded one), samplers, schedulers, LoRAs.
public struct A1111Catalog: Sendable, Equatable {
    public var flavor: A1111Flavor
    /// The version the server gave (`v1.10.1` from a reply's `info.version`), when known.
    public var version: String?
    public var checkpoints: [A1111Checkpoint]
    /// `options.sd_model_checkpoint`: the loaded checkpoint's title.
    public var currentCheckpoint: String?
    public var samplers: [A1111Sampler]
    /// nil when the route is missing (A1111 before 1.9: sampler names carry the schedule).
    public var schedulers: [A1111Scheduler]?
    public var loras: [A1111LoRA]
    /// The largest width and height the server makes (sd-server's capabilities `limits`), when it says.
    public var maxWidth: Int?
    public var maxHeight: Int?

    /// The most entries read from any list (a real server has hundreds of checkpoints or LoRAs
    /// at most).
    static let maxEntries = 10_000

    public init(flavor: A1111Flavor, version: String? = nil, checkpoints: [A1111Checkpoint] = [], currentCheckpoint: String? = nil,
                samplers: [A1111Sampler] = [], schedulers: [A1111Scheduler]? = nil, loras: [A1111LoRA] = []) {
        (self.flavor, self.version, self.checkpoints, self.currentCheckpoint) = (flavor, version, checkpoints, currentCheckpoint)
        (self.samplers, self.schedulers, self.loras) = (samplers, schedulers, loras)
    }

    /// "A1111 API (AUTOMATIC1111 v1.10.1)", "stable-diffusion.cpp sd-server".
    public var serverName: String {
        guard let version, !version.isEmpty, flavor != .stableDiffusionCpp else { return flavor.serverName }
        return String(flavor.serverName.dropLast()) + " \(A1111JSON.shown(version)))"
    }

    /// The checkpoints as the studio's model list takes them.
    public var remoteCheckpoints: [RemoteCheckpoint] {
        checkpoints.map { RemoteCheckpoint(name: $0.title, hash: $0.hash, server: serverName) }
    }

    /// The loaded checkpoint (`options.sd_model_checkpoint` matched against the list by title,
    /// stem or hash), else the first listed.
    public var current: RemoteCheckpoint? {
        let found = currentCheckpoint.flatMap { name in checkpoints.first { $0.matches(name) } } ?? checkpoints.first
        return found.map { RemoteCheckpoint(name: $0.title, hash: $0.hash, server: serverName) }
    }

    /// The checkpoint `name` names (title, stem, file name or hash, as A1111's alias lookup).
    public func checkpoint(named name: String) -> A1111Checkpoint? {
        checkpoints.first { $0.matches(name) }
    }

    /// The sampler the server lists under `name` or an alias.
    func sampler(_ name: String) -> A1111Sampler? {
        samplers.first { $0.answers(to: name) }
    }

    // MARK: Reading the server's lists

    /// `/sdapi/v1/sd-models`: entries without a string `title` are skipped.
    static func checkpoints(from list: [Any]) -> [A1111Checkpoint] {
        list.prefix(maxEntries).compactMap { item in
            guard let entry = item as? [String: Any], let title = A1111JSON.string(entry["title"]), !title.isEmpty else { return nil }
            let stem = A1111JSON.string(entry["model_name"]) ?? title
            // sd-server fills `hash` with a placeholder of eights: no hash at all.
            let hash = A1111JSON.string(entry["hash"]).flatMap { $0.isEmpty || $0.allSatisfy { $0 == "8" } ? nil : $0 }
            let file = A1111JSON.string(entry["filename"]).flatMap { $0.split(separator: "/").last.map(String.init) }
            return A1111Checkpoint(title: title, modelName: stem, hash: hash, fileName: file)
        }
    }

    /// `/sdapi/v1/samplers`: `name` and `aliases` (sd-server's options are empty, A1111's are
    /// strings or booleans and not needed here).
    static func samplers(from list: [Any]) -> [A1111Sampler] {
        list.prefix(maxEntries).compactMap { item in
            guard let entry = item as? [String: Any], let name = A1111JSON.string(entry["name"]), !name.isEmpty else { return nil }
            let options = entry["options"] as? [String: Any]
            return A1111Sampler(name: name, aliases: A1111JSON.strings(entry["aliases"]) ?? [],
                                automaticSchedule: A1111JSON.string(options?["scheduler"]))
        }
    }

    /// `/sdapi/v1/schedulers`: `name` and `label` (sd-server's label is its name).
    static func schedulers(from list: [Any]) -> [A1111Scheduler] {
        list.prefix(maxEntries).compactMap { item in
            guard let entry = item as? [String: Any], let name = A1111JSON.string(entry["name"]), !name.isEmpty else { return nil }
            return A1111Scheduler(name: name, label: A1111JSON.string(entry["label"]) ?? name)
        }
    }

    /// sd-server's `/sdcpp/v1/capabilities` `limits`: the largest width and height (nil when absent or odd).
    static func maxSize(fromCapabilities object: [String: Any]) -> (width: Int?, height: Int?) {
        let limits = object["limits"] as? [String: Any]
        let side = { (key: String) in A1111JSON.integer(limits?[key]).flatMap { $0 >= 64 ? $0 : nil } }
        return (side("max_width"), side("max_height"))
    }

    /// `/sdapi/v1/loras`.
    static func loras(from list: [Any]) -> [A1111LoRA] {
        list.prefix(maxEntries).compactMap { item in
            guard let entry = item as? [String: Any], let name = A1111JSON.string(entry["name"]), !name.isEmpty else { return nil }
            return A1111LoRA(name: name, alias: A1111JSON.string(entry["alias"]), path: A1111JSON.string(entry["path"]))
        }
    }
}

extension A1111Checkpoint {
    /// Whether `name` is this checkpoint's title, stem, file name or hash (A1111's aliases).
    func matches(_ name: String) -> Bool {
        !name.isEmpty && [title, modelName, hash, fileName].contains { $0 == name }
    }
}
