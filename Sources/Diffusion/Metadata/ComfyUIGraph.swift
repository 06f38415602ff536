import Foundation

/// ComfyUI's `prompt` text: the graph it ran, in its API format — node id to
/// `{"class_type": ..., "inputs": {...}}`, where an input is a value or a link
/// `[source node id, output index]`. Each sampler node (KSampler, KSamplerAdvanced,
/// SamplerCustom, SamplerCustomAdvanced) becomes one generation: links are followed to its
/// text encoders, latent, checkpoint and LoRA loaders. Walks are bounded (`maximumHops` links
/// per walk, each node once), so cyclic, dangling or mistyped links end a walk with a note.
struct ComfyUIGraph {
    struct Node {
        let id: String
        let classType: String
        let inputs: [String: Any]

        var label: String { "\(classType) node \(id)" }
    }

    /// The most nodes read: a large real graph has a few hundred.
    static let maximumNodes = 5000
    /// The most links one walk follows.
    static let maximumHops = 256
    static let samplerClasses: Set<String> = ["KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"]
    /// The most sampler nodes listed as generations (a real graph has one to a handful).
    static let maximumGenerations = 32

    private(set) var nodes: [String: Node] = [:]
    /// Node ids in numeric order ("3" before "10"; ids like "12:5" from group nodes after).
    private(set) var order: [String] = []
    private(set) var graphNotes: [String] = []

    init(json: [String: Any]) {
        var skipped = 0
        // In id order, so which nodes a too-large graph keeps does not depend on hashing.
        for id in json.keys.sorted() {
            guard let value = json[id] else { continue }
            guard nodes.count < Self.maximumNodes else {
                graphNotes.append("the graph has more than \(Self.maximumNodes) nodes; only \(Self.maximumNodes) were read")
                break
            }
            guard let object = value as? [String: Any], let type = object["class_type"] as? String,
                  let inputs = object["inputs"] as? [String: Any] else {
                skipped += 1
                continue
            }
            nodes[id] = Node(id: id, classType: type, inputs: inputs)
        }
        if skipped > 0 { graphNotes.append("\(skipped) entr\(skipped == 1 ? "y" : "ies") of the graph are not nodes (no class_type and inputs); skipped") }
        order = nodes.keys.sorted { a, b in
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a < b
            }
        }
    }

    /// The node a link input points at: `["4", 0]` (a number id is accepted too).
    func linked(_ value: Any?) -> Node? {
        guard let link = value as? [Any], link.count == 2, MetadataJSON.integer(link[1]) != nil else { return nil }
        let id = (link[0] as? String) ?? MetadataJSON.integerText(link[0])
        return id.flatMap { nodes[$0] }
    }

    static func isLink(_ value: Any?) -> Bool {
        guard let link = value as? [Any], link.count == 2 else { return false }
        return link[0] is String || MetadataJSON.integerText(link[0]) != nil
    }

    /// The image's metadata: one generation per sampler node, those that reach a saved image
    /// first (nearest the save node first), then the rest by node id.
    func metadata() -> ImageMetadata {
        let samplers = samplerOrder()
        if samplers.isEmpty {
            let found = Set(nodes.values.map(\.classType)).sorted().prefix(8).joined(separator: ", ")
            return ImageMetadata(source: .comfyUI, generations: [], notes: graphNotes + [
                "the ComfyUI graph has no sampler node stipple reads (KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced)"
                    + (found.isEmpty ? "" : "; its nodes: \(found)"),
            ])
        }
        var notes = graphNotes
        let listed = samplers.prefix(Self.maximumGenerations)
        if samplers.count > listed.count {
            notes.append("the graph has \(samplers.count) sampler nodes; the first \(listed.count) are listed")
        }
        var continuedBy: [String: [Node]] = [:]
        for sampler in listed {
            if let upstream = upstreamSampler(of: sampler) { continuedBy[upstream.id, default: []].append(sampler) }
        }
        let generations = listed.map { sampler in
            var generation = generation(for: sampler, labelled: samplers.count > 1)
            for later in continuedBy[sampler.id] ?? [] {
                generation.notes.append("\(later.label) continues this sampler's output (a refiner or second pass), which stipple does not run")
            }
            return generation
        }
        return ImageMetadata(source: .comfyUI, generations: generations, notes: notes)
    }

    /// Sampler nodes: those upstream of an output node (SaveImage, PreviewImage, ...) first, in
    /// breadth-first order from it, then the others by id. Among those reaching an output, a
    /// sampler that starts the image (from an empty latent) comes before one that continues its
    /// latent (a refiner or hires pass): the first is the generation stipple can rerun.
    func samplerOrder() -> [Node] {
        let reached = samplersReachingOutputs()
        let reachedIDs = Set(reached.map(\.id))
        let starts = reached.filter { upstreamSampler(of: $0) == nil }
        let startIDs = Set(starts.map(\.id))
        let rest = order.compactMap { nodes[$0] }.filter { Self.samplerClasses.contains($0.classType) && !reachedIDs.contains($0.id) }
        return starts + reached.filter { !startIDs.contains($0.id) } + rest
    }

    /// The sampler whose output `sampler`'s latent input continues, if any.
    func upstreamSampler(of sampler: Node) -> Node? {
        var current = linked(sampler.inputs["latent_image"])
        var seen: Set<String> = [sampler.id]
        while let node = current, seen.insert(node.id).inserted, seen.count <= Self.maximumHops {
            if Self.samplerClasses.contains(node.classType) { return node }
            if node.classType.hasPrefix("Empty") || node.classType.hasPrefix("VAEEncode") { return nil }
            current = linked(["samples", "latent", "latent_image", "samples1", "samples_to"].lazy.compactMap { node.inputs[$0] }.first { Self.isLink($0) })
        }
        return nil
    }

    func samplersReachingOutputs() -> [Node] {
        let outputs = order.compactMap { nodes[$0] }.filter { node in
            let type = node.classType.lowercased()
            return type.contains("saveimage") || type.contains("previewimage") || type.contains("image save") || type == "saveimagewebsocket"
        }
        var found: [Node] = []
        var seen = Set<String>()
        var queue = outputs.map(\.id)
        var head = 0
        seen.formUnion(queue)
        while head < queue.count {
            guard let node = nodes[queue[head]] else { head += 1; continue }
            head += 1
            if Self.samplerClasses.contains(node.classType) { found.append(node) }
            for key in node.inputs.keys.sorted() {
                guard let next = linked(node.inputs[key]), seen.insert(next.id).inserted else { continue }
                queue.append(next.id)
            }
        }
        return found
    }

    // MARK: One sampler

    func generation(for sampler: Node, labelled: Bool) -> RecordedGeneration {
        var fields = GenerationFields(tool: "ComfyUI")
        // ComfyUI draws the starting noise with torch's CPU generator (comfy/sample.py prepare_noise).
        fields.rng = "CPU"
        // Its ancestral noise comes from a new generator (default_noise_sampler in
        // comfy/k_diffusion/sampling.py) at seed + 1 on a CPU: ENSD 1. On a GPU it is the GPU's
        // generator at the seed, which the image does not say (a note below, for samplers that draw).
        fields.extra.append(("ENSD", "1"))
        var positive: Any?, negative: Any?, model: Any?
        let inputs = sampler.inputs
        switch sampler.classType {
        case "KSampler":
            kSampler(sampler, seedKey: "seed", into: &fields)
            denoise(value(inputs["denoise"], in: sampler, key: "denoise"), into: &fields)
            (positive, negative, model) = (inputs["positive"], inputs["negative"], inputs["model"])
        case "KSamplerAdvanced":
            kSampler(sampler, seedKey: "noise_seed", into: &fields)
            let start = MetadataJSON.integer(value(inputs["start_at_step"], in: sampler, key: "start_at_step")) ?? 0
            let end = MetadataJSON.integer(value(inputs["end_at_step"], in: sampler, key: "end_at_step")) ?? 10000
            let steps = fields.steps.flatMap { Int($0) } ?? 0
            if start > 0 || end < steps {
                fields.note("this KSamplerAdvanced runs only steps \(start) to \(min(end, steps)) of \(steps) (a base/refiner split); stipple runs all \(steps) steps")
            }
            if text(inputs["add_noise"], in: sampler, key: "add_noise") == "disable" {
                fields.note("this KSamplerAdvanced adds no noise (it continues another sampler's latent)")
            }
            (positive, negative, model) = (inputs["positive"], inputs["negative"], inputs["model"])
        case "SamplerCustom":
            fields.seed = fields.integer(value(inputs["noise_seed"], in: sampler, key: "noise_seed"), "noise_seed")
            fields.cfgScale = fields.number(value(inputs["cfg"], in: sampler, key: "cfg"), "cfg")
            if MetadataJSON.bool(inputs["add_noise"]) == false { fields.note("this SamplerCustom adds no noise") }
            customSampler(inputs["sampler"], sigmas: inputs["sigmas"], into: &fields)
            (positive, negative, model) = (inputs["positive"], inputs["negative"], inputs["model"])
        default:  // SamplerCustomAdvanced
            if let noise = linked(inputs["noise"]) {
                if noise.classType == "RandomNoise" {
                    fields.seed = fields.integer(value(noise.inputs["noise_seed"], in: noise, key: "noise_seed"), "noise_seed")
                } else {
                    fields.note("noise from \(noise.label) is not RandomNoise; stipple draws its own from the seed")
                }
            }
            customSampler(inputs["sampler"], sigmas: inputs["sigmas"], into: &fields)
            if let guider = linked(inputs["guider"]) {
                switch guider.classType {
                case "CFGGuider":
                    fields.cfgScale = fields.number(value(guider.inputs["cfg"], in: guider, key: "cfg"), "cfg")
                    (positive, negative) = (guider.inputs["positive"], guider.inputs["negative"])
                case "BasicGuider":
                    fields.cfgScale = "1"
                    positive = guider.inputs["conditioning"]
                default:
                    fields.note("guider \(guider.label) has no stipple equivalent; its prompts and CFG were not read")
                }
                model = guider.inputs["model"]
            } else {
                fields.note("SamplerCustomAdvanced node \(sampler.id) has no guider linked; its prompts were not read")
            }
        }
        let text = conditioningText(positive, role: "positive", into: &fields)
        fields.prompt = text.text ?? ""
        if text.text == nil { fields.note("the positive prompt of \(sampler.label) could not be traced to a text encoder") }
        if let clip = text.clip { clipSkip(from: clip, into: &fields) }
        if negative != nil {
            fields.negativePrompt = conditioningText(negative, role: "negative", into: &fields).text ?? ""
        }
        modelChain(model, into: &fields)
        latent(inputs["latent_image"], of: sampler, into: &fields, seen: [sampler.id])
        if let encoder = text.encoder, encoder.classType == "CLIPTextEncodeSDXL" { sdxlSizeConditioning(encoder, into: &fields) }
        if (fields.prompt + fields.negativePrompt).contains("embedding:") {
            fields.note("the prompt names embeddings as ComfyUI's embedding:NAME; stipple (as A1111) finds an embedding by its bare file name")
        }
        if let name = fields.sampler, ["Euler a", "DPM2 a", "DPM++ 2S a", "DPM++ SDE", "DPM++ 2M SDE"].contains(name) {
            fields.note("ComfyUI draws \(name)'s step noise on the device it ran on: stipple follows its CPU rule (seed + 1, "
                        + "ENSD 1); an image made on a GPU took that noise from the GPU's generator and will differ")
        }
        return fields.generation(label: labelled ? sampler.label : nil)
    }

    /// CLIPTextEncodeSDXL's size conditioning as stipple's SDXL fields (A1111 has none):
    /// `Original size` (its width and height) and `Crop top left` (crop_h, crop_w) where they
    /// are not the image's own; a target size other than the image's is noted.
    func sdxlSizeConditioning(_ encoder: Node, into fields: inout GenerationFields) {
        func number(_ key: String) -> Int? { MetadataJSON.integer(value(encoder.inputs[key], in: encoder, key: key)) }
        let size = (fields.width.flatMap { Int($0) }, fields.height.flatMap { Int($0) })
        if let width = number("width"), let height = number("height"), width > 0, height > 0, (width, height) != (size.0 ?? width, size.1 ?? height) {
            fields.extra.append(("Original size", "\(width)x\(height)"))
        }
        if let top = number("crop_h"), let left = number("crop_w"), top != 0 || left != 0 {
            fields.extra.append(("Crop top left", "\(top),\(left)"))
        }
        if let width = number("target_width"), let height = number("target_height"), let w = size.0, let h = size.1, (width, height) != (w, h) {
            fields.note("the SDXL target size \(width)x\(height) is not the image's; stipple conditions on the image's size")
        }
    }

    /// KSampler's and KSamplerAdvanced's own widgets: seed, steps, cfg, sampler and scheduler.
    func kSampler(_ sampler: Node, seedKey: String, into fields: inout GenerationFields) {
        let inputs = sampler.inputs
        fields.seed = fields.integer(value(inputs[seedKey], in: sampler, key: seedKey), seedKey)
        fields.steps = fields.integer(value(inputs["steps"], in: sampler, key: "steps"), "steps")
        fields.cfgScale = fields.number(value(inputs["cfg"], in: sampler, key: "cfg"), "cfg")
        fields.apply(ForeignSamplerNames.comfyUI(sampler: text(inputs["sampler_name"], in: sampler, key: "sampler_name"),
                                                  scheduler: text(inputs["scheduler"], in: sampler, key: "scheduler"), tool: "ComfyUI"))
    }

    /// An input's value: itself, or through links to nodes that pass a value on (primitive
    /// nodes: `value`, `seed`, `int`, `float`, `text`, `string`, or an input of the same name).
    func value(_ input: Any?, in node: Node, key: String) -> Any? {
        guard Self.isLink(input) else { return input }
        return valueSource(input, in: node, key: key).flatMap { $0.node.inputs[$0.key] }
    }

    /// Where `value(_:in:key:)` finds an input's value: the node and input name holding it (the
    /// node itself when the input is not a link); nil when the links end without a value. A saved
    /// workflow's prompt and seed are substituted there (`ComfyUIWorkflowSlots`).
    func valueSource(_ input: Any?, in node: Node, key: String) -> (node: Node, key: String)? {
        var current = input
        var holder = (node: node, key: key)
        var seen = Set<String>()
        for _ in 0..<Self.maximumHops {
            guard Self.isLink(current) else { return holder }
            guard let source = linked(current), seen.insert(source.id).inserted else { return nil }
            let candidates = [key, "value", "seed", "noise_seed", "int", "float", "number", "text", "string", "String", "Text"]
            guard let next = candidates.first(where: { source.inputs[$0] != nil }) else { return nil }
            holder = (source, next)
            current = source.inputs[next]
        }
        return nil
    }

    func text(_ input: Any?, in node: Node, key: String) -> String? {
        value(input, in: node, key: key) as? String
    }

    func denoise(_ value: Any?, into fields: inout GenerationFields) {
        guard let value, let number = MetadataJSON.number(value) else { return }
        if number < 1 { fields.denoisingStrength = Infotext.number(number) }
    }

    /// SamplerCustom's `sampler` (KSamplerSelect) and `sigmas` (BasicScheduler, KarrasScheduler, ...).
    func customSampler(_ samplerInput: Any?, sigmas sigmasInput: Any?, into fields: inout GenerationFields) {
        var samplerName: String?
        if let select = linked(samplerInput) {
            if select.classType == "KSamplerSelect" {
                samplerName = text(select.inputs["sampler_name"], in: select, key: "sampler_name")
            } else {
                fields.note("sampler \(select.label) has no stipple equivalent; using default")
            }
        }
        var schedulerName: String?
        var sigmas = linked(sigmasInput)
        var hops = 0
        while let node = sigmas, node.classType == "SplitSigmas" || node.classType == "FlipSigmas", hops < Self.maximumHops {
            fields.note("the sigmas pass through \(node.label); stipple runs the whole schedule")
            sigmas = linked(node.inputs["sigmas"])
            hops += 1
        }
        if let node = sigmas {
            switch node.classType {
            case "BasicScheduler":
                schedulerName = text(node.inputs["scheduler"], in: node, key: "scheduler")
                fields.steps = fields.integer(value(node.inputs["steps"], in: node, key: "steps"), "steps")
                denoise(value(node.inputs["denoise"], in: node, key: "denoise"), into: &fields)
            case "KarrasScheduler", "ExponentialScheduler":
                fields.steps = fields.integer(value(node.inputs["steps"], in: node, key: "steps"), "steps")
                schedulerName = node.classType == "KarrasScheduler" ? "karras" : "exponential"
                fields.note("\(node.label) sets its own sigma range; stipple uses the model's")
            default:
                fields.steps = fields.integer(value(node.inputs["steps"], in: node, key: "steps"), "steps")
                fields.note("sigmas from \(node.label) have no stipple equivalent; using the default schedule")
            }
        }
        fields.apply(ForeignSamplerNames.comfyUI(sampler: samplerName, scheduler: schedulerName, tool: "ComfyUI"))
    }

    /// The text a conditioning input was encoded from, followed back through the nodes that
    /// pass conditioning on (ControlNet, area, timestep range, combine: noted); and the link of
    /// the CLIP the encoder used.
    func conditioningText(_ input: Any?, role: String, into fields: inout GenerationFields) -> (text: String?, clip: Any?, encoder: Node?) {
        var current = linked(input)
        var seen = Set<String>()
        var hops = 0
        while let node = current, hops < Self.maximumHops {
            hops += 1
            guard seen.insert(node.id).inserted else {
                fields.note("the \(role) conditioning links form a cycle at \(node.label); its text was not read")
                return (nil, nil, nil)
            }
            switch node.classType {
            case "CLIPTextEncode", "CLIPTextEncodeSDXLRefiner":
                return (text(node.inputs["text"], in: node, key: "text"), node.inputs["clip"], node)
            case "CLIPTextEncodeSDXL":
                let g = text(node.inputs["text_g"], in: node, key: "text_g"), l = text(node.inputs["text_l"], in: node, key: "text_l")
                if let g, let l, g != l, !l.isEmpty {
                    fields.note("the SDXL \(role) prompt gives CLIP-L its own text (\(MetadataJSON.shown(l))); stipple encodes the CLIP-G text with both")
                }
                return (g ?? l, node.inputs["clip"], node)
            case "CLIPTextEncodeFlux":
                return (text(node.inputs["t5xxl"], in: node, key: "t5xxl") ?? text(node.inputs["clip_l"], in: node, key: "clip_l"), node.inputs["clip"], node)
            case "ConditioningZeroOut":
                return ("", nil, node)
            default:
                if let value = node.inputs["text"], let string = self.value(value, in: node, key: "text") as? String {
                    return (string, node.inputs["clip"], node)
                }
                let type = node.classType.lowercased()
                if type.contains("controlnet") {
                    fields.note("the prompt passes through \(node.label); ControlNet is not supported and is ignored")
                } else if type.contains("ipadapter") || type.contains("stylemodel") || type.contains("unclip") {
                    fields.note("the prompt passes through \(node.label) (an image prompt); stipple cannot use it")
                } else {
                    fields.note("the \(role) conditioning passes through \(node.label), which stipple does not apply")
                }
                let next = [role, "conditioning", "conditioning_1", "conditioning_to", "cond", "conditioning_from"]
                    .lazy.compactMap { node.inputs[$0] }.first { Self.isLink($0) }
                current = linked(next)
            }
        }
        return (nil, nil, nil)
    }

    /// `CLIPSetLastLayer` on the way from the text encoder's CLIP to the loader: A1111's Clip skip.
    func clipSkip(from clip: Any?, into fields: inout GenerationFields) {
        var current = linked(clip)
        var seen = Set<String>()
        while let node = current, seen.insert(node.id).inserted, seen.count <= Self.maximumHops {
            if node.classType == "CLIPSetLastLayer" {
                if let layer = MetadataJSON.integer(value(node.inputs["stop_at_clip_layer"], in: node, key: "stop_at_clip_layer")), layer < -1 {
                    fields.clipSkip = String(-layer)
                }
                return
            }
            current = linked(node.inputs["clip"])
        }
    }

    /// The model input back to its loader: LoRA loaders on the way become LoRAs, other nodes
    /// that change the model are noted.
    func modelChain(_ input: Any?, into fields: inout GenerationFields) {
        var current = linked(input)
        var seen = Set<String>()
        var loras: [(name: String, textEncoder: Double, unet: Double)] = []
        while let node = current, seen.count <= Self.maximumHops {
            guard seen.insert(node.id).inserted else {
                fields.note("the model links form a cycle at \(node.label); the checkpoint was not found")
                break
            }
            if let lora = text(node.inputs["lora_name"], in: node, key: "lora_name") {
                let unet = MetadataJSON.number(value(node.inputs["strength_model"], in: node, key: "strength_model")) ?? 1
                let clip = node.inputs["strength_clip"] == nil ? 0
                    : MetadataJSON.number(value(node.inputs["strength_clip"], in: node, key: "strength_clip")) ?? 1
                loras.insert((GenerationFields.modelName(lora), clip, unet), at: 0)
            } else if let checkpoint = text(node.inputs["ckpt_name"], in: node, key: "ckpt_name") {
                fields.model = GenerationFields.modelName(checkpoint)
                break
            } else if let unet = text(node.inputs["unet_name"], in: node, key: "unet_name") {
                fields.model = GenerationFields.modelName(unet)
                fields.note("the model is loaded as a separate UNet (\(node.label)) with its own text encoders and VAE; stipple needs them as one model")
                break
            } else if node.classType != "Reroute" {
                fields.note("the model passes through \(node.label), which stipple does not apply")
            }
            current = linked(node.inputs["model"])
        }
        if current != nil, seen.count > Self.maximumHops {
            fields.note("the model passes through more than \(Self.maximumHops) nodes; the rest were not read")
        }
        fields.loras += loras
    }

    /// The latent the sampler starts from: an empty latent's size and batch, another sampler's
    /// output (a refiner or hires pass: its size is followed back), or an encoded image (img2img).
    func latent(_ input: Any?, of sampler: Node, into fields: inout GenerationFields, seen: Set<String>) {
        var current = linked(input)
        var seen = seen
        var scale = 1.0
        while let node = current, seen.count <= Self.maximumHops {
            guard seen.insert(node.id).inserted else {
                fields.note("the latent links form a cycle at \(node.label); the size was not read")
                return
            }
            let inputs = node.inputs
            if let width = MetadataJSON.integer(value(inputs["width"], in: node, key: "width")),
               let height = MetadataJSON.integer(value(inputs["height"], in: node, key: "height")),
               node.classType.hasPrefix("Empty") || node.classType == "LatentUpscale" {
                if scale == 1 {
                    (fields.width, fields.height) = (String(width), String(height))
                } else if let w = Self.scaled(width, scale), let h = Self.scaled(height, scale) {
                    (fields.width, fields.height) = (String(w), String(h))
                }
                if node.classType == "LatentUpscale" {
                    fields.note("the latent is upscaled by \(node.label) from another pass (hires fix), which stipple does not run")
                }
                if let batch = MetadataJSON.integer(value(inputs["batch_size"], in: node, key: "batch_size")), batch > 1 {
                    fields.note("the graph made a batch of \(batch) from one noise tensor; stipple reruns the first image of it")
                }
                return
            }
            switch node.classType {
            case "LatentUpscaleBy":
                let by = MetadataJSON.number(value(inputs["scale_by"], in: node, key: "scale_by")) ?? 1
                scale *= by
                fields.note("the latent is upscaled by \(node.label) from another pass (hires fix), which stipple does not run")
                current = linked(inputs["samples"])
            case let type where type.hasPrefix("VAEEncode"):
                let image = linked(inputs["pixels"])
                let name = image.flatMap { text($0.inputs["image"], in: $0, key: "image") }.map { " '\($0)'" } ?? ""
                fields.note("the sampler starts from an image\(name) encoded by \(node.label) (img2img); rerun with --init-image")
                return
            case let type where Self.samplerClasses.contains(type):
                fields.note("the sampler continues the latent from \(node.label)")
                current = linked(inputs["latent_image"])
            default:
                let next = ["samples", "latent", "latent_image", "samples1", "samples_to"].lazy.compactMap { inputs[$0] }.first { Self.isLink($0) }
                guard let next else {
                    fields.note("the latent comes from \(node.label), which stipple does not read; the size was not found")
                    return
                }
                fields.note("the latent passes through \(node.label), which stipple does not apply")
                current = linked(next)
            }
        }
    }

    /// `size * scale` rounded down to a multiple of 8 as ComfyUI's LatentUpscaleBy does; nil
    /// when it is not a sensible size.
    static func scaled(_ size: Int, _ scale: Double) -> Int? {
        let value = (Double(size) * scale / 8).rounded() * 8
        guard value.isFinite, value >= 8, value <= 65536 else { return nil }
        return Int(value)
    }
}
