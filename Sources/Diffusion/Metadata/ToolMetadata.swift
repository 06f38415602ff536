import Foundation

/// Fooocus (modules/meta_parser.py): its own scheme is JSON in `parameters` with
/// `fooocus_scheme: fooocus`; its A1111 scheme is infotext with Fooocus's extra fields
/// (`fooocus_scheme: a1111`, `Version: Fooocus v…`). Fooocus samples with ComfyUI's code
/// (ldm_patched), so its sampler and scheduler names are ComfyUI's.
enum FooocusMetadata {
    static func readJSON(_ object: [String: Any]) -> ImageMetadata {
        var fields = GenerationFields(tool: "Fooocus")
        // The prompts after styles and the Fooocus V2 expansion are applied, as its A1111 scheme joins them.
        if let full = object["full_prompt"] as? [Any] {
            fields.prompt = full.compactMap { $0 as? String }.joined(separator: ", ")
        } else {
            fields.prompt = fields.string(object["prompt"], "prompt") ?? ""
        }
        if let full = object["full_negative_prompt"] as? [Any] {
            fields.negativePrompt = full.compactMap { $0 as? String }.joined(separator: ", ")
        } else {
            fields.negativePrompt = fields.string(object["negative_prompt"], "negative_prompt") ?? ""
        }
        fields.steps = fields.integer(object["steps"], "steps")
        fields.apply(ForeignSamplerNames.comfyUI(sampler: object["sampler"] as? String, scheduler: object["scheduler"] as? String, tool: "Fooocus"))
        fields.cfgScale = fields.number(object["guidance_scale"], "guidance_scale")
        fields.seed = fields.integer(object["seed"], "seed")
        if let resolution = object["resolution"] as? String {
            // Python's str((width, height)): "(1152, 896)".
            let numbers = resolution.split(whereSeparator: { !$0.isNumber && $0 != "-" }).compactMap { Int($0) }
            if numbers.count == 2 {
                (fields.width, fields.height) = (String(numbers[0]), String(numbers[1]))
            } else {
                fields.note("Fooocus resolution \(MetadataJSON.shown(resolution)) is not (width, height); left out")
            }
        }
        if let model = object["base_model"] as? String { fields.model = GenerationFields.modelName(model) }
        if let hash = object["base_model_hash"] as? String { fields.modelHash = GenerationFields.shortHash(hash) }
        if let skip = MetadataJSON.integer(object["clip_skip"]), skip > 1 { fields.clipSkip = String(skip) }
        if let loras = object["loras"] as? [Any] {
            for case let entry as [Any] in loras.prefix(64) where entry.count >= 2 {
                guard let name = entry[0] as? String, let weight = MetadataJSON.number(entry[1]) else { continue }
                fields.loras.append((GenerationFields.modelName(name), weight, weight))
                if entry.count >= 3, let hash = entry[2] as? String, let short = GenerationFields.shortHash(hash, length: 12) {
                    fields.loraHashes.append((GenerationFields.modelName(name), short))
                }
            }
        }
        fields.version = object["version"] as? String
        commonNotes(refiner: object["refiner_model"] as? String, performance: object["performance"] as? String,
                    sharpness: MetadataJSON.number(object["sharpness"]), adaptiveCFG: MetadataJSON.number(object["adaptive_cfg"]),
                    admGuidance: object["adm_guidance"] != nil, freeU: object["freeu"] != nil, vae: object["vae"] as? String, into: &fields)
        // Fooocus draws its noise with torch's CPU generator (ldm_patched's prepare_noise).
        fields.rng = "CPU"
        return ImageMetadata(source: .fooocus, generations: [fields.generation()])
    }

    /// The A1111 scheme: the infotext as A1111 would read it, plus Fooocus's fields as notes,
    /// `Lora weights` as prompt tags and its CPU noise.
    static func readA1111(_ infotext: Infotext) -> ImageMetadata {
        var infotext = infotext
        var fields = GenerationFields(tool: "Fooocus")
        commonNotes(refiner: infotext["Refiner"], performance: infotext["Performance"], sharpness: infotext["Sharpness"].flatMap { Double($0) },
                    adaptiveCFG: infotext["Adaptive CFG"].flatMap { Double($0) }, admGuidance: infotext["ADM Guidance"] != nil,
                    freeU: infotext["FreeU"] != nil, vae: infotext["VAE"],
                    into: &fields)
        if let weights = infotext["Lora weights"] {
            // "name: 0.5, other: 1.0"
            for entry in weights.components(separatedBy: ", ").prefix(64) {
                let parts = entry.components(separatedBy: ": ")
                guard parts.count >= 2, let weight = Double(parts[parts.count - 1]), weight.isFinite else { continue }
                fields.loras.append((parts[0], weight, weight))
            }
        }
        let converted = fields.generation()
        let tags = converted.infotext.prompt
        if !tags.isEmpty { infotext.prompt += (infotext.prompt.isEmpty ? "" : " ") + tags }
        if let hashes = infotext["Lora hashes"] {
            // Fooocus writes full SHA-256s; A1111's (and stipple's) Lora hashes are 12 digits.
            infotext["Lora hashes"] = hashes.components(separatedBy: ", ").map { entry in
                let parts = entry.components(separatedBy: ": ")
                guard parts.count == 2, let short = GenerationFields.shortHash(parts[1], length: 12) else { return entry }
                return "\(parts[0]): \(short)"
            }.joined(separator: ", ")
        }
        if let hash = infotext["Model hash"], let short = GenerationFields.shortHash(hash) { infotext["Model hash"] = short }
        if infotext["RNG"] == nil { infotext["RNG"] = "CPU" }
        return ImageMetadata(source: .fooocus, generations: [RecordedGeneration(infotext: infotext, notes: converted.notes)])
    }

    static func commonNotes(refiner: String?, performance: String?, sharpness: Double?, adaptiveCFG: Double?, admGuidance: Bool, freeU: Bool, vae: String?,
                            into fields: inout GenerationFields) {
        if let refiner, !["", "None"].contains(refiner) {
            fields.note("Fooocus switched to the refiner model '\(refiner)' part way; stipple runs the base model for all steps")
        }
        if let performance, ["Lightning", "Hyper-SD", "Extreme Speed"].contains(performance) {
            fields.note("Fooocus performance '\(performance)' adds its own few-step LoRA, which is not in the parameters")
        }
        if let sharpness, sharpness != 0 {
            fields.note("Fooocus sharpness \(Infotext.number(sharpness)) (its filter on the model's output) has no stipple equivalent")
        }
        if let adaptiveCFG, adaptiveCFG != 0 {
            fields.note("Fooocus adaptive CFG \(Infotext.number(adaptiveCFG)) (CFG mimicking from TSNR) has no stipple equivalent; plain CFG is used")
        }
        if admGuidance { fields.note("Fooocus's ADM guidance (its scaling of SDXL's size conditioning) has no stipple equivalent") }
        if freeU { fields.note("FreeU is not supported and is ignored") }
        if let vae, !["", "None", "Default (model)"].contains(vae) { fields.note("Fooocus used the separate VAE '\(vae)'; stipple uses the model's") }
    }
}

/// InvokeAI: `invokeai_metadata` (3.0 on: the core metadata node's fields as JSON),
/// `sd-metadata` (1.15 to 2.3: JSON with an `image` object) and `Dream` (its command line).
/// Read from invokeai/app/invocations/metadata.py, invokeai/backend/image_util/pngwriter.py and
/// invokeai/frontend/install/import_images.py.
enum InvokeAIMetadata {
    static func readCurrent(_ text: String) throws(MetadataError) -> ImageMetadata {
        let object = try MetadataJSON.object(text, what: "the image's invokeai_metadata")
        var fields = GenerationFields(tool: "InvokeAI")
        fields.read(object, prompt: "positive_prompt", negative: "negative_prompt", steps: "steps", cfg: "cfg_scale", seed: "seed")
        if let scheduler = object["scheduler"] as? String { fields.apply(ForeignSamplerNames.invokeAI(scheduler)) }
        if let model = object["model"] as? [String: Any] {
            if let name = (model["name"] ?? model["model_name"]) as? String { fields.model = name }
            if let hash = model["hash"] as? String {
                fields.modelHash = GenerationFields.shortHash(hash)
                if fields.modelHash == nil { fields.note("InvokeAI's model hash \(MetadataJSON.shown(hash)) is not a SHA-256; it cannot be checked against A1111's") }
            }
        }
        // InvokeAI counts the CLIP layers skipped (0: none); A1111 counts the last layer used (1: all).
        if let skip = MetadataJSON.integer(object["clip_skip"]), skip > 0 { fields.clipSkip = String(skip + 1) }
        if let strength = MetadataJSON.number(object["strength"]), object["init_image"] != nil || (object["generation_mode"] as? String)?.contains("img2img") == true {
            fields.denoisingStrength = Infotext.number(strength)
            fields.note("InvokeAI made this from an init image; rerun with --init-image")
        }
        if let loras = object["loras"] as? [Any] {
            for case let entry as [String: Any] in loras.prefix(64) {
                let model = (entry["model"] ?? entry["lora"]) as? [String: Any]
                guard let name = (model?["name"] ?? model?["model_name"]) as? String, let weight = MetadataJSON.number(entry["weight"]) else { continue }
                fields.loras.append((name, weight, weight))
            }
        }
        switch (object["rand_device"] as? String)?.lowercased() {
        case "cuda"?: fields.rng = "GPU"
        default: fields.rng = "CPU"  // InvokeAI 3's default
        }
        for (key, what) in [("controlnets", "ControlNet"), ("ipAdapters", "IP-Adapter"), ("t2iAdapters", "T2I-Adapter")] {
            if let list = object[key] as? [Any], !list.isEmpty { fields.note("InvokeAI used \(list.count) \(what)\(list.count == 1 ? "" : "s"), which stipple cannot use") }
        }
        if object["canvas_v2_metadata"] != nil || object["regions"] != nil {
            fields.note("InvokeAI's canvas layers (control, regional guidance, reference images) cannot be used by stipple")
        }
        if object["refiner_model"] is [String: Any] { fields.note("InvokeAI ran an SDXL refiner pass, which stipple does not run") }
        if MetadataJSON.bool(object["hrf_enabled"]) == true { fields.note("InvokeAI's high-resolution fix is not supported and is ignored") }
        if MetadataJSON.bool(object["seamless_x"]) == true || MetadataJSON.bool(object["seamless_y"]) == true {
            fields.note("InvokeAI's seamless tiling is not supported and is ignored")
        }
        if let rescale = MetadataJSON.number(object["cfg_rescale_multiplier"]), rescale != 0 {
            fields.note("InvokeAI's CFG rescale \(Infotext.number(rescale)) has no stipple equivalent")
        }
        if object["vae"] is [String: Any] { fields.note("InvokeAI used a separate VAE; stipple uses the model's") }
        if let style = object["positive_style_prompt"] as? String, !style.isEmpty, style != fields.prompt {
            fields.note("InvokeAI's SDXL style prompt differs from the prompt; stipple encodes the prompt for both encoders")
        }
        fields.version = (object["app_version"] as? String).map { "InvokeAI \($0)" }
        // InvokeAI 3 on samples with diffusers' scheduler classes (2.x and Dream with k-diffusion's).
        fields.extra.append(("Sampling", "diffusers"))
        return ImageMetadata(source: .invokeAI, generations: [fields.generation()])
    }

    /// InvokeAI 2.x's `sd-metadata`; its `Dream` text is only a fallback for the prompt.
    static func readLegacy(_ text: String, dream: String?) throws(MetadataError) -> ImageMetadata {
        let object = try MetadataJSON.object(text, what: "the image's sd-metadata")
        guard let image = object["image"] as? [String: Any] else {
            if let dream { return readDream(dream) }
            throw MetadataError("the image's sd-metadata has no image object")
        }
        var fields = GenerationFields(tool: "InvokeAI")
        var prompt: String?
        if let list = image["prompt"] as? [Any] {
            // [{"prompt": ..., "weight": ...}]: more than one is a blend.
            let parts = list.compactMap { ($0 as? [String: Any])?["prompt"] as? String }
            prompt = parts.first
            if parts.count > 1 { fields.note("InvokeAI blended \(parts.count) prompts; stipple uses the first") }
        } else {
            prompt = image["prompt"] as? String
        }
        (fields.prompt, fields.negativePrompt) = splitPrompt(prompt ?? "")
        fields.read(image, prompt: nil, negative: nil, steps: "steps", cfg: "cfg_scale", seed: "seed")
        if let sampler = image["sampler"] as? String { fields.apply(ForeignSamplerNames.invokeAILegacy(sampler)) }
        if let strength = MetadataJSON.number(image["strength"]), image["init_image_path"] != nil || image["init_img"] != nil {
            fields.denoisingStrength = Infotext.number(strength)
            fields.note("InvokeAI made this from an init image; rerun with --init-image")
        }
        fields.model = (object["model_weights"] ?? object["model_id"]) as? String
        if let hash = object["model_hash"] as? String { fields.modelHash = GenerationFields.shortHash(hash) }
        if MetadataJSON.bool(image["hires_fix"]) == true { fields.note("InvokeAI's high-resolution fix is not supported and is ignored") }
        if MetadataJSON.bool(image["seamless"]) == true { fields.note("InvokeAI's seamless tiling is not supported and is ignored") }
        if let variations = image["variations"] as? [Any], !variations.isEmpty { fields.note("InvokeAI's seed variations are not supported and are ignored") }
        if image["postprocessing"] is [Any] { fields.note("InvokeAI's postprocessing (face restoration, upscaling) is not supported and is ignored") }
        // InvokeAI before 3.0 drew its noise on the GPU (import_images.py records rand_device cuda).
        fields.rng = "GPU"
        fields.version = (object["app_version"] as? String).map { "InvokeAI \($0)" }
        return ImageMetadata(source: .invokeAI, generations: [fields.generation()])
    }

    /// The `Dream` text of InvokeAI before 2.0: `"PROMPT" -s50 -S42 -W512 -H512 -C7.5 -Ak_lms`
    /// (switches with or without a space before the value).
    static func readDream(_ text: String) -> ImageMetadata {
        var fields = GenerationFields(tool: "InvokeAI")
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var switches = Substring(trimmed)
        var prompt = ""
        if trimmed.hasPrefix("\""), let close = trimmed.dropFirst().lastIndex(of: "\"") {
            prompt = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            switches = trimmed[trimmed.index(after: close)...]
        } else if let dash = trimmed.range(of: " -") {
            prompt = String(trimmed[..<dash.lowerBound])
            switches = trimmed[dash.lowerBound...]
        } else {
            prompt = trimmed
            switches = ""
        }
        (fields.prompt, fields.negativePrompt) = splitPrompt(prompt)
        let words = switches.split(separator: " ").map(String.init)
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            guard word.hasPrefix("-"), word.count >= 2, !word.hasPrefix("--") else {
                if word.hasPrefix("--") { fields.note("InvokeAI option \(MetadataJSON.shown(word)) is not supported and is ignored") }
                continue
            }
            let flag = word.dropFirst().prefix(1)
            var value = String(word.dropFirst(2))
            if value.isEmpty, i < words.count, !words[i].hasPrefix("-") {
                value = words[i]
                i += 1
            }
            switch flag {
            case "s": fields.steps = fields.integer(value, "steps (-s)")
            case "S": fields.seed = fields.integer(value, "seed (-S)")
            case "W": fields.width = fields.integer(value, "width (-W)")
            case "H": fields.height = fields.integer(value, "height (-H)")
            case "C": fields.cfgScale = fields.number(value, "CFG (-C)")
            case "A": fields.apply(ForeignSamplerNames.invokeAILegacy(value))
            case "f": fields.denoisingStrength = fields.number(value, "strength (-f)")
            case "I": fields.note("InvokeAI made this from the init image \(MetadataJSON.shown(value)); rerun with --init-image")
            case "G": fields.note("InvokeAI's GFPGAN face restoration is not supported and is ignored")
            case "U": fields.note("InvokeAI's upscaling is not supported and is ignored")
            case "v", "V": fields.note("InvokeAI's seed variations are not supported and are ignored")
            default: fields.note("InvokeAI switch -\(flag) is not supported and is ignored")
            }
        }
        fields.rng = "GPU"
        return ImageMetadata(source: .invokeAI, generations: [fields.generation()])
    }

    /// InvokeAI 2.x's one prompt text: `[bracketed]` parts are the negative prompt.
    static func splitPrompt(_ text: String) -> (prompt: String, negative: String) {
        var positive = "", negatives: [String] = [], current = ""
        var depth = 0
        for character in text where character != "\r" && character != "\n" {
            switch character {
            case "[":
                if depth == 0 { current = "" } else { current.append(character) }
                depth += 1
            case "]" where depth > 0:
                depth -= 1
                if depth == 0 { negatives.append(current.trimmingCharacters(in: .whitespaces)) } else { current.append(character) }
            default:
                if depth == 0 { positive.append(character) } else { current.append(character) }
            }
        }
        if depth > 0 { positive += "[" + current }
        let negative = negatives.count == 1 ? negatives[0] : negatives.map { "(\($0))" }.joined()
        return (positive.trimmingCharacters(in: .whitespaces), negative)
    }
}

/// NovelAI: tEXt `Comment` (its request's parameters as JSON), `Description` (the prompt),
/// `Software: NovelAI` and `Source` (the model). NovelAI's models are not public, so nothing
/// made with them can be rerun as it was; the fields are recovered for reference and reuse.
enum NovelAIMetadata {
    static func read(comment: String, description: String?, source: String?) throws(MetadataError) -> ImageMetadata {
        let object = try MetadataJSON.object(comment, what: "the image's NovelAI Comment")
        var fields = GenerationFields(tool: "NovelAI")
        var prompt = object["prompt"] as? String ?? description ?? ""
        if prompt.isEmpty, let v4 = object["v4_prompt"] as? [String: Any], let caption = v4["caption"] as? [String: Any] {
            prompt = caption["base_caption"] as? String ?? ""
        }
        fields.read(object, prompt: nil, negative: "uc", steps: "steps", cfg: "scale", seed: "seed")
        fields.prompt = prompt
        fields.apply(ForeignSamplerNames.novelAI(sampler: object["sampler"] as? String, schedule: object["noise_schedule"] as? String))
        if let strength = MetadataJSON.number(object["strength"]), object["request_type"] as? String == "Img2ImgRequest" || object["noise"] != nil {
            fields.denoisingStrength = Infotext.number(strength)
            fields.note("NovelAI made this from an image (img2img); rerun with --init-image")
        }
        fields.model = source
        fields.note("NovelAI's models are not public: stipple cannot run \(source.map { "'\($0)'" } ?? "the model this was made with"); the fields are shown for reuse with another model")
        fields.note("NovelAI draws its noise on its own servers; stipple uses torch's CPU noise (RNG: CPU), so the image will differ")
        fields.note("NovelAI's quality tags and undesired-content preset are already written into the prompt and the negative prompt (uc)")
        if let rescale = MetadataJSON.number(object["cfg_rescale"]), rescale != 0 { fields.note("NovelAI's CFG rescale \(Infotext.number(rescale)) has no stipple equivalent") }
        if MetadataJSON.bool(object["sm"]) == true || MetadataJSON.bool(object["sm_dyn"]) == true {
            fields.note("NovelAI's SMEA sampling is not supported and is ignored")
        }
        if MetadataJSON.bool(object["dynamic_thresholding"]) == true { fields.note("NovelAI's dynamic thresholding is not supported and is ignored") }
        if let references = object["reference_image_multiple"] as? [Any] ?? object["reference_information_extracted_multiple"] as? [Any], !references.isEmpty {
            fields.note("NovelAI's vibe transfer (\(references.count) reference image\(references.count == 1 ? "" : "s")) cannot be used by stipple")
        }
        if let v4 = object["v4_prompt"] as? [String: Any], let caption = v4["caption"] as? [String: Any],
           let characters = caption["char_captions"] as? [Any], !characters.isEmpty {
            fields.note("NovelAI's \(characters.count) character prompt\(characters.count == 1 ? "" : "s") (placed by position) cannot be used by stipple")
        }
        fields.rng = "CPU"
        return ImageMetadata(source: .novelAI, generations: [fields.generation()])
    }
}

/// SwarmUI: `parameters` holding `{"sui_image_params": {...}, "sui_extra_data": {...}}`, its
/// parameter ids being the names with all but lowercase letters removed (src/Text2Image/
/// T2IParamTypes.cs CleanTypeName; "CFG Scale" is `cfgscale`). Its ComfyUI backend names the
/// sampler and scheduler as ComfyUI does.
enum SwarmUIMetadata {
    static func read(_ parameters: Any, models: Any?, extra: Any?) -> ImageMetadata {
        var fields = GenerationFields(tool: "SwarmUI")
        guard let object = parameters as? [String: Any] else {
            return ImageMetadata(source: .swarmUI, generations: [], notes: ["SwarmUI's sui_image_params is not an object; nothing to read"])
        }
        fields.read(object, prompt: "prompt", negative: "negativeprompt", steps: "steps", cfg: "cfgscale", seed: "seed")
        fields.apply(ForeignSamplerNames.comfyUI(sampler: object["sampler"] as? String, scheduler: object["scheduler"] as? String, tool: "SwarmUI"))
        if let model = object["model"] as? String { fields.model = GenerationFields.modelName(model) }
        if let list = models as? [Any] {
            for case let entry as [String: Any] in list.prefix(64) where entry["param"] as? String == "model" {
                if let hash = entry["hash"] as? String { fields.modelHash = GenerationFields.shortHash(hash) }
            }
        }
        // "CLIP Stop At Layer": -1 uses the last layer (A1111's Clip skip 1), -2 skips one.
        if let layer = MetadataJSON.integer(object["clipstopatlayer"]), layer < -1 { fields.clipSkip = String(-layer) }
        if let names = object["loras"] as? [Any] {
            let weights = object["loraweights"] as? [Any] ?? []
            for (index, name) in names.prefix(64).enumerated() {
                guard let name = name as? String else { continue }
                let weight = index < weights.count ? MetadataJSON.number(weights[index]) ?? 1 : 1
                fields.loras.append((GenerationFields.modelName(name), weight, weight))
            }
        }
        if let creativity = MetadataJSON.number(object["initimagecreativity"]) {
            fields.denoisingStrength = Infotext.number(creativity)
            fields.note("SwarmUI made this from an init image; rerun with --init-image")
        }
        if object["refinermodel"] != nil || object["refinercontrolpercentage"] != nil || object["refinerupscale"] != nil {
            fields.note("SwarmUI ran a refiner (or upscale) pass, which stipple does not run")
        }
        if object["variationseed"] != nil { fields.note("Variation seed is not supported and is ignored") }
        if object["vae"] is String { fields.note("SwarmUI used a separate VAE; stipple uses the model's") }
        if let unused = (extra as? [String: Any])?["unused_parameters"] as? [Any], !unused.isEmpty {
            fields.note("SwarmUI lists \(unused.count) parameter\(unused.count == 1 ? "" : "s") it did not use")
        }
        // SwarmUI samples through ComfyUI, whose starting noise is torch's CPU generator.
        fields.rng = "CPU"
        fields.version = (object["swarm_version"] as? String).map { "SwarmUI \($0)" }
        return ImageMetadata(source: .swarmUI, generations: [fields.generation()])
    }
}

/// stable-diffusion.cpp's `parameters` (examples/common/common.cpp get_image_params): A1111's
/// layout, with its own names (`Sampler: euler_a karras`, `RNG: cuda`, `CFG scale: 7.000000`)
/// and, since 2026, `SDCPP: {json}` last, unquoted (so it is cut off before the fields are read).
enum StableDiffusionCppMetadata {
    /// `text` without a trailing `, SDCPP: {…}` on its last line.
    static func withoutJSONTail(_ text: String) -> String {
        guard let range = text.range(of: ", SDCPP: {", options: .backwards) else { return text }
        let lastLineStart = text[..<range.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        guard text[lastLineStart..<range.lowerBound].contains("Version: stable-diffusion.cpp") else { return text }
        return String(text[..<range.lowerBound])
    }

    static func read(_ infotext: Infotext) -> ImageMetadata {
        var fields = GenerationFields(tool: "stable-diffusion.cpp")
        var converted = Infotext(prompt: infotext.prompt, negativePrompt: infotext.negativePrompt)
        var mapping = SamplerMapping()
        for (key, value) in infotext.fields {
            switch key {
            case "Sampler":
                mapping = ForeignSamplerNames.stableDiffusionCpp(value)
            case "CFG scale", "Denoising strength":
                converted[key] = Double(value).map { Infotext.number($0) } ?? value
            case "Model":
                converted[key] = GenerationFields.modelName(value)
            case "RNG":
                // sd.cpp's names: std_default, cuda, cpu. `cuda` (its default) is its port of A1111's
                // Philox generator: an sd-server image (RNG: cuda) reran here with `--rng gpu` within
                // one level (issue 18). `cpu` is torch's CPU generator's port. `std_default` is
                // kept as it is (C++'s std::mt19937: not stipple's), so the warnings say it differs.
                switch value.lowercased() {
                case "cuda": converted[key] = "NV"
                case "cpu": converted[key] = "CPU"
                default: converted[key] = value
                }
            case "Guidance", "Eta", "Version":
                converted[key] = value
            case "TE", "Unet", "VAE", "Uncond Unet":
                fields.note("stable-diffusion.cpp loaded a separate \(key == "TE" ? "text encoder" : key) file (\(value)); stipple needs one model folder or checkpoint")
            case "SLG scale", "Skip layers", "Skip layer start", "Skip layer end":
                fields.note("skip-layer guidance (SLG) is not supported and is ignored")
            case "Custom Sigmas":
                fields.note("stable-diffusion.cpp's custom sigmas are not supported; using the default schedule")
            case "Sampler RNG", "Extra sample args":
                fields.note("stable-diffusion.cpp's \(key) is not supported and is ignored")
            case let adetailer where adetailer.hasPrefix("ADetailer"):
                fields.note("ADetailer is not supported and is ignored")
            default:
                converted.fields.append((key, value))
            }
        }
        if mapping.sampler != nil || !mapping.notes.isEmpty {
            // In A1111's place: after Steps.
            var ordered = converted.fields
            var insertAt = (ordered.firstIndex { $0.key == "Steps" }).map { $0 + 1 } ?? 0
            if let sampler = mapping.sampler { ordered.insert(("Sampler", sampler), at: insertAt); insertAt += 1 }
            if let schedule = mapping.schedule { ordered.insert(("Schedule type", schedule), at: insertAt) }
            if let spacing = mapping.timestepSpacing { ordered.append(("Timestep spacing", spacing)) }
            converted.fields = ordered
            for note in mapping.notes { fields.note(note) }
        }
        // The prompt keeps sd.cpp's <lora:NAME:W> tags (prompt_with_lora): stipple reads the same syntax.
        return ImageMetadata(source: .stableDiffusionCpp, generations: [RecordedGeneration(infotext: converted, notes: fields.notes)])
    }
}
