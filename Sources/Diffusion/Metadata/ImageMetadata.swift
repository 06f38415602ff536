import Foundation

/// The generator an image's metadata came from.
public enum MetadataSource: String, Sendable, CaseIterable {
    case stipple
    /// AUTOMATIC1111's infotext, also written by Forge, reForge and SD.Next.
    case a1111
    case comfyUI
    case fooocus
    case invokeAI
    case novelAI
    case stableDiffusionCpp
    case swarmUI

    public var displayName: String {
        switch self {
        case .stipple: "stipple"
        case .a1111: "AUTOMATIC1111"
        case .comfyUI: "ComfyUI"
        case .fooocus: "Fooocus"
        case .invokeAI: "InvokeAI"
        case .novelAI: "NovelAI"
        case .stableDiffusionCpp: "stable-diffusion.cpp"
        case .swarmUI: "SwarmUI"
        }
    }
}

/// One generation an image's metadata records, in the one vocabulary stipple reruns: A1111's
/// infotext keys (Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model, ...) with values
/// `GenerationRequest(infotext:)` reads, sampler names as `SamplerChoice(parsing:)` knows them,
/// LoRAs as `<lora:NAME:TE:UNET>` tags in the prompt (where A1111 keeps them). `notes` say what
/// the format recorded that stipple cannot use or convert, one line each.
public struct RecordedGeneration: Sendable, Equatable {
    /// Which part of the image's metadata this is ("KSampler node 3") when there are several.
    public var label: String?
    public var infotext: Infotext
    public var notes: [String]

    public init(label: String? = nil, infotext: Infotext, notes: [String] = []) {
        self.label = label
        self.infotext = infotext
        self.notes = notes
    }
}

/// The metadata of an image from any generator stipple reads, as generations it can rerun.
public struct ImageMetadata: Sendable, Equatable {
    public var source: MetadataSource
    /// The generations found, the one that made the image first (a ComfyUI graph can hold
    /// several samplers). Empty when the format was recognised but holds nothing to rerun
    /// (`notes` then says why).
    public var generations: [RecordedGeneration]
    /// Notes about the image as a whole (a ComfyUI image with only its UI workflow, say).
    public var notes: [String]

    public init(source: MetadataSource, generations: [RecordedGeneration], notes: [String] = []) {
        self.source = source
        self.generations = generations
        self.notes = notes
    }

    /// The most text of one key `read` parses as JSON: a ComfyUI graph of a few hundred nodes
    /// is well under 1 MB. (A1111's `parameters` keeps `Infotext.maximumLength`.)
    public static let maximumLength = 1024 * 1024

    /// The metadata in an image's text chunks (a PNG's tEXt/iTXt/zTXt keywords and values),
    /// nil when none is from a generator stipple knows. Keys are tried in this order:
    /// `parameters` (A1111, Forge, SD.Next, stipple, stable-diffusion.cpp, Fooocus in both its
    /// schemes, SwarmUI's JSON), ComfyUI's `prompt` graph, InvokeAI's `invokeai_metadata`,
    /// `sd-metadata` and `Dream`, NovelAI's `Comment`, and last ComfyUI's `workflow` alone.
    /// A text too long or not the JSON its key promises is a one-line error; odd values
    /// inside a format are notes.
    public static func read(texts: [(key: String, value: String)]) throws(MetadataError) -> ImageMetadata? {
        func text(_ key: String) -> String? { texts.first { $0.key == key }?.value }
        if let parameters = text("parameters") {
            return try readParameters(parameters, fooocusScheme: text("fooocus_scheme"))
        }
        if let prompt = text("prompt"), prompt.first(where: { !$0.isWhitespace }) == "{" {
            let graph = try MetadataJSON.object(prompt, what: "the image's ComfyUI prompt graph")
            return ComfyUIGraph(json: graph).metadata()
        }
        if let invoke = text("invokeai_metadata") {
            return try InvokeAIMetadata.readCurrent(invoke)
        }
        if let legacy = text("sd-metadata") {
            return try InvokeAIMetadata.readLegacy(legacy, dream: text("Dream"))
        }
        if let dream = text("Dream") {
            return InvokeAIMetadata.readDream(dream)
        }
        if let comment = text("Comment"), text("Software") == "NovelAI" || MetadataJSON.isObject(comment) && comment.contains("\"uc\"") {
            return try NovelAIMetadata.read(comment: comment, description: text("Description"), source: text("Source"))
        }
        if text("workflow") != nil {
            return ImageMetadata(source: .comfyUI, generations: [], notes: [
                "the image carries only ComfyUI's UI workflow, not the prompt graph it ran; stipple reads the prompt graph",
            ])
        }
        return nil
    }

    /// The `parameters` text: JSON for Fooocus's own scheme and SwarmUI, else infotext.
    static func readParameters(_ text: String, fooocusScheme: String?) throws(MetadataError) -> ImageMetadata {
        if text.first(where: { !$0.isWhitespace }) == "{" {
            let object = try MetadataJSON.object(text, what: "the image's parameters JSON")
            if let swarm = object["sui_image_params"] {
                return SwarmUIMetadata.read(swarm, models: object["sui_models"], extra: object["sui_extra_data"])
            }
            if fooocusScheme == "fooocus" || object["full_prompt"] != nil || object["base_model"] != nil {
                return FooocusMetadata.readJSON(object)
            }
            throw MetadataError("the image's parameters text is JSON from a tool stipple does not know")
        }
        let infotext: Infotext
        do {
            infotext = try Infotext.read(StableDiffusionCppMetadata.withoutJSONTail(text))
        } catch {
            throw MetadataError(error.description)
        }
        let version = infotext["Version"] ?? ""
        if fooocusScheme == "a1111" || version.hasPrefix("Fooocus") {
            return FooocusMetadata.readA1111(infotext)
        }
        if version == "stable-diffusion.cpp" {
            return StableDiffusionCppMetadata.read(infotext)
        }
        if version.hasPrefix("stipple") {
            return ImageMetadata(source: .stipple, generations: [RecordedGeneration(infotext: infotext)])
        }
        return ImageMetadata(source: .a1111, generations: [RecordedGeneration(infotext: infotext, notes: A1111Notes.notes(for: infotext))])
    }
}

/// Metadata stipple recognised but cannot read; one line.
public struct MetadataError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// What A1111's own infotext records that `GenerationRequest.warnings(for:)` does not already
/// mention and stipple does not run (extensions' fields).
enum A1111Notes {
    static func notes(for infotext: Infotext) -> [String] {
        var notes: [String] = []
        let prefixes = [("ControlNet", "ControlNet"), ("ADetailer", "ADetailer"), ("Tiled Diffusion", "Tiled Diffusion"),
                        ("FreeU", "FreeU"), ("Dynamic thresholding", "dynamic thresholding"), ("Mask blur", "inpainting")]
        for (prefix, name) in prefixes where infotext.fields.contains(where: { $0.key.hasPrefix(prefix) }) {
            notes.append("the image used \(name), which stipple does not run")
        }
        return notes
    }
}

/// The fields of one generation as a format records them, gathered before they are written as
/// A1111 infotext in A1111's field order. Values are already text; `notes` collect what could
/// not be converted.
struct GenerationFields {
    var prompt = ""
    var negativePrompt = ""
    var steps: String?
    var sampler: String?
    var schedule: String?
    var timestepSpacing: String?
    var cfgScale: String?
    var seed: String?
    var width: String?
    var height: String?
    var modelHash: String?
    var model: String?
    var denoisingStrength: String?
    var clipSkip: String?
    var rng: String?
    /// LoRAs to add to the prompt as `<lora:NAME:TE:UNET>` (A1111's form).
    var loras: [(name: String, textEncoder: Double, unet: Double)] = []
    var loraHashes: [(name: String, hash: String)] = []
    var version: String?
    /// Fields after A1111's own (stipple's SDXL `Original size`, `Crop top left`).
    var extra: [(key: String, value: String)] = []
    var notes: [String] = []

    /// The tool's name in notes ("ComfyUI").
    let tool: String

    init(tool: String) {
        self.tool = tool
    }

    mutating func note(_ text: String) {
        if !notes.contains(text) { notes.append(text) }
    }

    /// A whole-number field from a JSON value, or a note when it is not one.
    mutating func integer(_ value: Any?, _ name: String) -> String? {
        guard let value, !(value is NSNull) else { return nil }
        if let text = MetadataJSON.integerText(value) { return text }
        note("\(tool) \(name) \(MetadataJSON.shown(value)) is not a whole number; left out")
        return nil
    }

    /// A number field written as A1111 writes it (7, 7.5), or a note when it is not a number.
    mutating func number(_ value: Any?, _ name: String) -> String? {
        guard let value, !(value is NSNull) else { return nil }
        if let number = MetadataJSON.number(value) { return Infotext.number(number) }
        note("\(tool) \(name) \(MetadataJSON.shown(value)) is not a number; left out")
        return nil
    }

    /// A text field, or a note when the value is something else.
    mutating func string(_ value: Any?, _ name: String) -> String? {
        guard let value, !(value is NSNull) else { return nil }
        if let text = value as? String { return text }
        note("\(tool) \(name) is \(MetadataJSON.shown(value)), not text; left out")
        return nil
    }

    /// The fields most formats keep flat in one JSON object, under the tool's own key names
    /// (nil: read elsewhere).
    mutating func read(_ object: [String: Any], prompt: String?, negative: String?, steps: String, cfg: String, seed: String,
                       width: String = "width", height: String = "height") {
        if let prompt { self.prompt = string(object[prompt], prompt) ?? "" }
        if let negative { negativePrompt = string(object[negative], negative) ?? "" }
        self.steps = integer(object[steps], steps)
        cfgScale = number(object[cfg], cfg)
        self.seed = integer(object[seed], seed)
        self.width = integer(object[width], width)
        self.height = integer(object[height], height)
    }

    /// The sampler and schedule from a name mapping, its note kept.
    mutating func apply(_ mapping: SamplerMapping) {
        if let sampler = mapping.sampler { self.sampler = sampler }
        if let schedule = mapping.schedule { self.schedule = schedule }
        if let spacing = mapping.timestepSpacing { timestepSpacing = spacing }
        for text in mapping.notes { note(text) }
    }

    /// A model file's name as A1111's `Model` shows it: no folders, no extension.
    static func modelName(_ path: String) -> String {
        let file = path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? path
        for suffix in [".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft"] where file.lowercased().hasSuffix(suffix) {
            return String(file.dropLast(suffix.count))
        }
        return file
    }

    /// A1111's model hash (the first 10 hex digits of the file's SHA-256) from a full SHA-256,
    /// written bare, `sha256:…` or `0x…`; nil for other hashes (InvokeAI's BLAKE3).
    static func shortHash(_ hash: String, length: Int = 10) -> String? {
        var hex = hash.lowercased()
        for prefix in ["sha256:", "0x"] where hex.hasPrefix(prefix) { hex = String(hex.dropFirst(prefix.count)) }
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return String(hex.prefix(length))
    }

    /// The infotext, fields in A1111's order; LoRAs appended to the prompt as tags.
    func generation(label: String? = nil) -> RecordedGeneration {
        var prompt = self.prompt
        var notes = self.notes
        if !loras.isEmpty {
            notes.append("\(tool)'s LoRAs were added to the prompt as <lora:NAME:WEIGHT> tags (<lora:NAME:TE:UNET> where the weights differ)")
            let tags = loras.map { lora in
                let te = Infotext.number(lora.textEncoder), unet = Infotext.number(lora.unet)
                return te == unet ? "<lora:\(lora.name):\(unet)>" : "<lora:\(lora.name):\(te):\(unet)>"
            }
            prompt += (prompt.isEmpty ? "" : " ") + tags.joined(separator: " ")
        }
        var fields: [(key: String, value: String)] = []
        func add(_ key: String, _ value: String?) { if let value { fields.append((key, value)) } }
        add("Steps", steps)
        add("Sampler", sampler)
        add("Schedule type", schedule)
        add("CFG scale", cfgScale)
        add("Seed", seed)
        if let width, let height { fields.append(("Size", "\(width)x\(height)")) }
        add("Model hash", modelHash)
        add("Model", model)
        add("Denoising strength", denoisingStrength)
        add("Clip skip", clipSkip)
        add("Timestep spacing", timestepSpacing)
        add("RNG", rng)
        if !loraHashes.isEmpty { fields.append(("Lora hashes", loraHashes.map { "\($0.name): \($0.hash)" }.joined(separator: ", "))) }
        fields += extra
        add("Version", version)
        return RecordedGeneration(label: label, infotext: Infotext(prompt: prompt, negativePrompt: negativePrompt, fields: fields),
                                  notes: notes)
    }
}
