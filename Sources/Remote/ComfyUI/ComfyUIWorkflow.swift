import Diffusion
import Foundation
import Terminal

/// Why a request cannot be sent to ComfyUI as a graph; one line naming the setting.
public struct ComfyUIWorkflowError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// ComfyUI's API-format graph for a `GenerationRequest`: node id to `{"class_type", "inputs"}`,
/// an input being a value or a link `[node id, output index]`. One graph makes one image
/// (`batch_size` 1), so a batch is one prompt per image at seed + i, as the embedded engine's
/// images are.
///
/// The graph is the one ComfyUI's default workflow builds, with the node ids the recorded
/// fixtures use (Tests/RemoteTests/Fixtures/comfyui/README.md):
///
///     4 CheckpointLoaderSimple -> [12, 13... LoraLoader] -> [CLIPSetLastLayer] -> 6/7 CLIPTextEncode
///     5 EmptyLatentImage | 10 LoadImage -> 11 VAEEncode    -> 3 KSampler -> 8 VAEDecode -> 9 SaveImage
///
/// A saved workflow (`[backend] workflow`, exported with "Save (API format)") is run instead with
/// the prompt, negative prompt and seed filled in (its other settings kept as saved).
public struct ComfyUIWorkflow {
    /// The graph to POST as `prompt`.
    public var graph: [String: Any]
    /// Things the server will do differently from the embedded engine, one line each
    /// (the job reports them as `.warning` before the first image).
    public var warnings: [String]
    /// The VAE decode nodes (the job reports `.decoding` when one runs).
    public var decodeNodes: Set<String>
    /// The request as the server runs it (`resolved(_:seed:)`).
    public var request: GenerationRequest

    /// The prefix of the files SaveImage writes on the server.
    public static let filenamePrefix = "stipple"
    /// The most LoRA tags one prompt may chain.
    public static let maximumLoRAs = 64

    // MARK: Building

    /// The graph for image `request` at `seed` on checkpoint `checkpoint` (the server's name).
    /// `loras` is the server's LoRA list (`/models/loras`); `initImageName` the name
    /// `/upload/image` gave the init image, for img2img.
    public init(request: GenerationRequest, seed: UInt64, checkpoint: String, size: (width: Int, height: Int),
                loras: [String], initImageName: String?) throws(ComfyUIWorkflowError) {
        var warnings: [String] = []
        let (samplerName, scheduler) = try Self.samplerNames(for: request, warnings: &warnings)
        let tags = ExtraNetworkTags(parsing: request.prompt)
        warnings += tags.notes
        let negativeTags = ExtraNetworkTags(parsing: request.negativePrompt)
        if !negativeTags.loras.isEmpty {
            warnings.append("<lora:…> tags in the negative prompt are sent as text: LoRAs apply from the prompt only")
        }
        guard tags.loras.count <= Self.maximumLoRAs else {
            throw ComfyUIWorkflowError("the prompt has \(tags.loras.count) LoRA tags; at most \(Self.maximumLoRAs) are chained")
        }
        warnings += Self.syntaxWarnings(prompt: tags.prompt, negative: request.negativePrompt, steps: request.steps)

        var graph: [String: Any] = [:]
        graph["4"] = Self.node("CheckpointLoaderSimple", ["ckpt_name": checkpoint])
        var model: [Any] = ["4", 0], clip: [Any] = ["4", 1]
        let vae: [Any] = ["4", 2]
        for (i, lora) in tags.loras.enumerated() {
            let id = String(12 + i)
            graph[id] = Self.node("LoraLoader", [
                "lora_name": try Self.matchLoRA(lora.name, in: loras),
                "strength_model": lora.unetWeight, "strength_clip": lora.textWeight, "model": model, "clip": clip,
            ])
            (model, clip) = ([id, 0], [id, 1])
        }
        if request.clipSkip > 1 {
            let id = String(12 + tags.loras.count)
            graph[id] = Self.node("CLIPSetLastLayer", ["stop_at_clip_layer": -request.clipSkip, "clip": clip])
            clip = [id, 0]
        }
        // A tag's place leaves its spaces (`a cat <lora:x:1>` -> `a cat `); CLIP ignores them at the ends.
        let prompt = tags.loras.isEmpty ? tags.prompt : tags.prompt.trimmingCharacters(in: .whitespaces)
        graph["6"] = Self.node("CLIPTextEncode", ["text": prompt, "clip": clip])
        graph["7"] = Self.node("CLIPTextEncode", ["text": request.negativePrompt, "clip": clip])
        let latent: [Any]
        if request.initImage != nil {
            guard let initImageName else { throw ComfyUIWorkflowError("img2img needs the init image uploaded first") }
            graph["10"] = Self.node("LoadImage", ["image": initImageName])
            graph["11"] = Self.node("VAEEncode", ["pixels": ["10", 0], "vae": vae])
            latent = ["11", 0]
        } else {
            graph["5"] = Self.node("EmptyLatentImage", ["width": size.width, "height": size.height, "batch_size": 1])
            latent = ["5", 0]
        }
        graph["3"] = Self.node("KSampler", [
            "seed": seed, "steps": request.steps, "cfg": request.cfgScale, "sampler_name": samplerName, "scheduler": scheduler,
            "denoise": request.initImage != nil ? request.strength : 1.0,
            "model": model, "positive": ["6", 0], "negative": ["7", 0], "latent_image": latent,
        ])
        graph["8"] = Self.node("VAEDecode", ["samples": ["3", 0], "vae": vae])
        graph["9"] = Self.node("SaveImage", ["filename_prefix": Self.filenamePrefix, "images": ["8", 0]])
        self.graph = graph
        self.warnings = warnings
        self.decodeNodes = ["8"]
        self.request = Self.resolved(request, seed: seed, size: size, scheduler: scheduler)
    }

    /// A saved API-format workflow with the request's prompt, negative prompt (when there is one)
    /// and seed filled in; everything else (size, steps, CFG, sampler, LoRAs, the init image) is
    /// the workflow's own, as it was saved: that is what running a saved workflow means. LoRA
    /// tags are sent as prompt text with a warning. The request the images report is read back
    /// from the graph as sent, by the reader of ComfyUI images' graphs (`ImageMetadata`), so an
    /// image records the workflow's settings, not the panel's.
    public init(saved: [String: Any], request: GenerationRequest, seed: UInt64,
                size: (width: Int, height: Int)?) throws(ComfyUIWorkflowError) {
        try Self.requireAPIFormat(saved)
        guard let slots = ComfyUIWorkflowSlots.find(in: saved) else {
            throw ComfyUIWorkflowError("the workflow has no sampler node stipple can fill in (KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced)")
        }
        guard !slots.positive.isEmpty else {
            throw ComfyUIWorkflowError("the workflow's \(slots.sampler) prompt does not come from a text encoder stipple can fill in")
        }
        guard let seedSlot = slots.seed else {
            throw ComfyUIWorkflowError("the workflow's \(slots.sampler) seed could not be found (a KSampler seed or RandomNoise noise_seed)")
        }
        var graph = saved
        var warnings: [String] = []
        var request = request
        func set(_ slot: ComfyUIWorkflowSlots.Slot?, _ value: Any) {
            guard let slot, var node = graph[slot.node] as? [String: Any], var inputs = node["inputs"] as? [String: Any] else { return }
            inputs[slot.input] = value
            node["inputs"] = inputs
            graph[slot.node] = node
        }
        if !ExtraNetworkTags(parsing: request.prompt).loras.isEmpty {
            warnings.append("<lora:…> tags are sent as prompt text to a saved workflow: put LoraLoader nodes in the workflow instead")
        }
        warnings += Self.syntaxWarnings(prompt: request.prompt, negative: request.negativePrompt, steps: request.steps)
        slots.positive.forEach { set($0, request.prompt) }
        if slots.negative.isEmpty, !request.negativePrompt.isEmpty {
            warnings.append("the workflow's \(slots.sampler) has no negative prompt to fill in; the negative prompt was not sent")
        }
        if !request.negativePrompt.isEmpty { slots.negative.forEach { set($0, request.negativePrompt) } }
        set(seedSlot, seed)
        _ = size
        // What the graph now asks, as stipple reads a ComfyUI image's graph.
        if let text = String(data: (try? JSONSerialization.data(withJSONObject: graph)) ?? Data(), encoding: .utf8),
           let recorded = (try? ImageMetadata.read(texts: [(key: "prompt", value: text)]))??.generations.first,
           let read = try? GenerationRequest(infotext: recorded.infotext) {
            request = read
        }
        request.seed = seed
        request.samplingConvention = .kDiffusion
        (request.noiseSource, request.noiseSeedDelta) = (.cpu, 1)
        self.graph = graph
        self.warnings = warnings
        self.decodeNodes = Set(graph.compactMap { id, value in
            ((value as? [String: Any])?["class_type"] as? String).map { $0.hasPrefix("VAEDecode") } == true ? id : nil
        })
        self.request = request
    }

    /// Refuses a workflow saved in ComfyUI's UI format (`nodes` and `links` lists), which the
    /// server cannot run.
    static func requireAPIFormat(_ saved: [String: Any]) throws(ComfyUIWorkflowError) {
        if saved["nodes"] is [Any] || saved["links"] is [Any] {
            throw ComfyUIWorkflowError("the workflow is in ComfyUI's UI format (it has nodes and links lists): "
                                       + "export it from ComfyUI with \"Save (API format)\"")
        }
    }

    /// The request as ComfyUI runs it, so that `--from` on the image reruns it here: k-diffusion's
    /// samplers, torch's CPU noise with ancestral noise from a new generator at seed + 1 (ENSD 1,
    /// ComfyUI's rule on a CPU server; docs: comfyui-protocol notes), the default sampler as the
    /// Euler it sent, and the seed and size it used.
    static func resolved(_ request: GenerationRequest, seed: UInt64, size: (width: Int, height: Int),
                         scheduler: String) -> GenerationRequest {
        var resolved = request
        resolved.seed = seed
        (resolved.width, resolved.height) = (size.width, size.height)
        resolved.samplingConvention = .kDiffusion
        (resolved.noiseSource, resolved.noiseSeedDelta) = (.cpu, 1)
        resolved.batchCount = 1
        if resolved.sampler == .default { resolved.sampler = .euler }
        resolved.timestepSpacing = scheduler == "simple" ? .trailing : nil
        return resolved
    }

    private static func node(_ type: String, _ inputs: [String: Any]) -> [String: Any] {
        ["class_type": type, "inputs": inputs]
    }

    // MARK: Samplers

    /// ComfyUI's `sampler_name` for each stipple sampler it has (the reverse of
    /// `ForeignSamplerNames.comfyUI`); the model's default is run as Euler, ComfyUI's default.
    public static func comfyUISampler(_ sampler: SamplerName) -> String? {
        switch sampler {
        case .default, .euler: "euler"
        case .eulerA: "euler_ancestral"
        case .heun: "heun"
        case .dpm2: "dpm_2"
        case .dpm2A: "dpm_2_ancestral"
        case .lms: "lms"
        case .dpmpp2M: "dpmpp_2m"
        case .dpmpp2MSDE: "dpmpp_2m_sde"
        case .ddim: "ddim"
        case .ddpm: "ddpm"
        case .unipc: "uni_pc"
        case .deis: "deis"
        case .lcm: "lcm"
        case .pndm, .flowEuler: nil
        }
    }

    /// The `sampler_name` and `scheduler` for the request's sampler, schedule and spacing;
    /// warnings for what ComfyUI runs differently.
    static func samplerNames(for request: GenerationRequest, warnings: inout [String]) throws(ComfyUIWorkflowError) -> (String, String) {
        guard let sampler = comfyUISampler(request.sampler) else {
            let shown = request.sampler.displayName ?? request.sampler.rawValue
            throw ComfyUIWorkflowError("ComfyUI has no \(shown) sampler: choose another (Euler, Euler a, DPM++ 2M, ...)")
        }
        let scheduler: String
        switch request.schedule {
        case .karras: scheduler = "karras"
        case .exponential: scheduler = "exponential"
        // ComfyUI's `normal` is k-diffusion's own spacing of the model's sigmas (A1111's
        // Automatic and Uniform alike); trailing spacing is its `simple`.
        case .model, .uniform:
            switch request.timestepSpacing {
            case .trailing?: scheduler = "simple"
            case nil: scheduler = "normal"
            case let other?:
                scheduler = "normal"
                warnings.append("ComfyUI has no \(other.rawValue) timestep spacing; it runs its normal schedule")
            }
        }
        if request.sampler == .ddim && request.eta != 0 {
            warnings.append("ComfyUI's ddim takes no eta; eta \(request.eta) is not sent")
        }
        return (sampler, scheduler)
    }

    // MARK: Prompts

    /// Warnings for A1111 prompt syntax that ComfyUI reads as plain text: prompt editing
    /// (`[a:b:0.5]`), alternation (`[a|b]`), composition (`AND`) and `BREAK`. Emphasis
    /// (`(word:1.2)`) means the same on both.
    static func syntaxWarnings(prompt: String, negative: String, steps: Int) -> [String] {
        var found: [String] = []
        for text in [prompt, negative] {
            let scheduled = (try? PromptSchedule(text, steps: max(1, steps)))
            if scheduled.map({ !$0.isConstant }) ?? true { found.append("prompt editing or alternation ([a:b:when], [a|b])") }
            if let composed = try? ComposablePrompt(text), composed.parts.count > 1 { found.append("AND") }
            if (try? PromptSyntax.parse(text))?.contains(.chunkBreak) == true { found.append("BREAK") }
        }
        var seen = Set<String>()
        let unique = found.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return [] }
        return ["the prompt uses A1111's \(unique.joined(separator: ", ")), which ComfyUI reads as plain text"]
    }

    // MARK: LoRAs

    /// The server's file for a `<lora:NAME>` tag: `NAME` itself, `NAME` with any extension, or
    /// either in a subfolder (ComfyUI lists `sub/NAME.safetensors`; Windows servers `sub\\...`).
    /// An unknown or ambiguous name is refused with the closest names the server has.
    public static func matchLoRA(_ name: String, in available: [String]) throws(ComfyUIWorkflowError) -> String {
        if available.contains(name) { return name }
        func normal(_ text: String) -> String { text.lowercased().replacingOccurrences(of: "\\", with: "/") }
        /// The file's path without its extension, and its name alone without it.
        func stem(_ file: String) -> (path: String, base: String) {
            let parts = normal(file).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let last = parts.last ?? ""
            let base = last.lastIndex(of: ".").map { String(last[..<$0]) } ?? last
            return ((parts.dropLast() + [base]).joined(separator: "/"), base)
        }
        let wanted = normal(name)
        let shown = TerminalText.visible(name)
        let rules: [(String) -> Bool] = [{ normal($0) == wanted }, { stem($0).path == wanted }, { stem($0).base == wanted }]
        for rule in rules {
            let matches = available.filter(rule)
            if matches.count == 1, let match = matches.first { return match }
            if matches.count > 1 {
                let listed = matches.prefix(4).map { TerminalText.visible($0) }.joined(separator: ", ")
                throw ComfyUIWorkflowError("<lora:\(shown)> matches \(matches.count) LoRAs on the server (\(listed)): write the folder too")
            }
        }
        let close = available.map { (file: $0, distance: editDistance(stem($0).base, wanted)) }
            .filter { $0.distance <= max(2, wanted.count / 3) }
            .sorted { $0.distance < $1.distance }
            .prefix(3).map { TerminalText.visible($0.file) }
        let hint = close.isEmpty ? (available.isEmpty ? "; the server has no LoRAs" : "") : "; close: \(close.joined(separator: ", "))"
        throw ComfyUIWorkflowError("<lora:\(shown)> is not a LoRA on the server\(hint)")
    }

    /// Levenshtein distance, on names cut to 64 characters (a hint, not a comparison).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.prefix(64)), y = Array(b.prefix(64))
        guard !x.isEmpty else { return y.count }
        guard !y.isEmpty else { return x.count }
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }
}
