import Foundation
import Imaging
import Testing
@testable import Diffusion

/// Other generators' image metadata (Fixtures/metadata, written by tools/make_metadata_fixtures.py
/// as each tool writes it): the fields recovered under A1111's names, the notes for what stipple
/// cannot use, and the request each fixture's first generation becomes on the bundled model.
@Suite struct MetadataTests {
    static let folder = CheckpointFixtures.root.appendingPathComponent("metadata")

    static func texts(_ name: String) throws -> [(key: String, value: String)] {
        try PNG.readAllTexts(path: folder.appendingPathComponent(name).path).texts.map { ($0.key, $0.value) }
    }

    static func read(_ name: String) throws -> ImageMetadata {
        let metadata = try ImageMetadata.read(texts: texts(name))
        return try #require(metadata, "\(name): no metadata found")
    }

    /// What one fixture's first generation must hold: infotext fields by key (nil: absent),
    /// prompt and negative prompt, and a piece of each expected note.
    struct Expected: Sendable, CustomTestStringConvertible {
        let file: String
        let source: MetadataSource
        let prompt: String
        let negative: String
        let fields: [String: String?]
        let notes: [String]
        var generations = 1

        var testDescription: String { file }
    }

    static let expected: [Expected] = [
        Expected(file: "a1111_lora.png", source: .a1111,
                 prompt: "masterpiece, a red fox in the snow, (detailed fur:1.2) <lora:fox_style:0.8>", negative: "blurry, lowres",
                 fields: ["Steps": "25", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "6.5", "Seed": "3405691582",
                          "Size": "512x768", "Model": "v1-5-pruned-emaonly", "Model hash": "6ce0161689", "Clip skip": "2",
                          "Lora hashes": "fox_style: 0123456789ab"],
                 notes: ["ADetailer"]),
        Expected(file: "sdcpp.png", source: .stableDiffusionCpp,
                 prompt: "a lovely cat, watercolor <lora:cat_style:0.7>", negative: "blurry",
                 fields: ["Steps": "20", "Sampler": "Euler a", "Schedule type": "Karras", "CFG scale": "7", "Seed": "42", "Size": "512x512",
                          "Model": "v1-5-pruned-emaonly", "RNG": "NV", "SDCPP": nil],
                 notes: []),
        Expected(file: "comfyui_default.png", source: .comfyUI,
                 prompt: "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", negative: "text, watermark",
                 fields: ["Steps": "20", "Sampler": "Euler", "Schedule type": "Automatic", "CFG scale": "8", "Seed": "156680208700286",
                          "Size": "512x512", "Model": "v1-5-pruned-emaonly", "RNG": "CPU", "Denoising strength": nil],
                 notes: []),
        // Written by ComfyUI itself (0.8.0, its SaveImage node), not shaped after its source.
        Expected(file: "comfyui_real.png", source: .comfyUI, prompt: "a red circle", negative: "",
                 fields: ["Steps": "2", "Sampler": "Euler a", "Schedule type": "Automatic", "CFG scale": "7", "Seed": "42",
                          "Size": "64x64", "Model": "sd15-fp16-ldm", "RNG": "CPU", "ENSD": "1"],
                 notes: ["on the device it ran on"]),
        Expected(file: "comfyui_loras.png", source: .comfyUI,
                 prompt: "a pixel art castle, detailed <lora:pixel_art:0.6:0.8> <lora:add_detail:0.5>", negative: "blurry, jpeg artifacts",
                 fields: ["Steps": "28", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "6.5", "Seed": "987654321",
                          "Size": "512x768", "Model": "dreamshaper_8", "Clip skip": "2"],
                 notes: ["LoRAs were added to the prompt", "batch of 2"]),
        Expected(file: "comfyui_refiner.png", source: .comfyUI,
                 prompt: "evening sunset scenery blue sky nature, glass bottle with a galaxy in it", negative: "text, watermark",
                 fields: ["Steps": "25", "Sampler": "Euler", "CFG scale": "8", "Seed": "721897303308196", "Size": "1024x1024",
                          "Model": "sd_xl_base_1.0", "Original size": "4096x4096", "Crop top left": nil],
                 notes: ["steps 0 to 20 of 25", "KSamplerAdvanced node 11 continues this sampler's output"], generations: 2),
        Expected(file: "comfyui_custom.png", source: .comfyUI,
                 prompt: "a cinematic shot of a baby racoon wearing an intricate italian priest robe", negative: "",
                 fields: ["Steps": "1", "Sampler": "Euler a", "Schedule type": "SGM Uniform", "CFG scale": "1", "Seed": "1234",
                          "Size": "512x512", "Model": "sd_xl_turbo_1.0_fp16", "ENSD": "1"],
                 notes: ["on the device it ran on"]),
        Expected(file: "comfyui_custom_advanced.png", source: .comfyUI,
                 prompt: "a lighthouse at dawn, volumetric light", negative: "lowres",
                 fields: ["Steps": "24", "Sampler": "DPM++ 2M SDE", "Schedule type": nil, "CFG scale": "5.5", "Seed": "55555",
                          "Size": "640x448"],
                 notes: ["ComfyUI scheduler 'beta' has no stipple equivalent; using default", "'dpmpp_2m_sde_gpu' draws its SDE noise on the GPU"]),
        Expected(file: "fooocus_json.png", source: .fooocus,
                 prompt: "a cozy cabin in the woods, winter, cinematic, a cozy cabin in the woods, winter, highly detailed, intricate, sharp focus <lora:sd_xl_offset_example-lora_1.0:0.1>",
                 negative: "unrealistic, saturated, high contrast, big nose, painting, drawing, sketch, cartoon, anime",
                 fields: ["Steps": "30", "Sampler": "DPM++ 2M SDE", "Schedule type": "Karras", "CFG scale": "4", "Seed": "8412390771036282316",
                          "Size": "1152x896", "Model": "juggernautXL_v8Rundiffusion", "Model hash": "e6bb9ea85b", "RNG": "CPU",
                          "Lora hashes": "sd_xl_offset_example-lora_1.0: b4dd4cbcb1cb"],
                 notes: ["sharpness 2", "ADM guidance"]),
        Expected(file: "fooocus_a1111.png", source: .fooocus,
                 prompt: "a cozy cabin in the woods, winter, cinematic, a cozy cabin in the woods, winter, highly detailed, intricate, sharp focus <lora:sd_xl_offset_example-lora_1.0:0.1>",
                 negative: "unrealistic, saturated, high contrast, big nose, painting, drawing, sketch, cartoon, anime",
                 fields: ["Steps": "30", "Sampler": "DPM++ 2M SDE Karras", "CFG scale": "4.0", "Seed": "8412390771036282316",
                          "Size": "1152x896", "Model hash": "e6bb9ea85b", "RNG": "CPU"],
                 notes: ["sharpness 2", "ADM guidance"]),
        Expected(file: "invokeai_v3.png", source: .invokeAI,
                 prompt: "a portrait of an old sailor, dramatic lighting <lora:add_detail:0.75>", negative: "cartoon, blurry",
                 fields: ["Steps": "30", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "7.5", "Seed": "3188573863",
                          "Size": "512x768", "Model": "Deliberate v2", "Model hash": nil, "Clip skip": "2", "RNG": "CPU"],
                 notes: ["IP-Adapter", "not a SHA-256"]),
        Expected(file: "invokeai_v2.png", source: .invokeAI,
                 prompt: "a castle on a hill, oil painting", negative: "blurry, lowres",
                 fields: ["Steps": "50", "Sampler": "Euler a", "CFG scale": "7.5", "Seed": "1234", "Size": "512x512",
                          "Model": "stable-diffusion-1.5", "Model hash": "cc6cb27103", "RNG": "GPU"],
                 notes: []),
        Expected(file: "invokeai_dream.png", source: .invokeAI,
                 prompt: "a red fox in the snow", negative: "blurry",
                 fields: ["Steps": "50", "Sampler": "LMS", "CFG scale": "7.5", "Seed": "42", "Size": "512x512"],
                 notes: []),
        Expected(file: "novelai.png", source: .novelAI,
                 prompt: "1girl, solitary, looking at viewer, cherry blossoms, best quality, amazing quality, very aesthetic, absurdres",
                 negative: "lowres, {bad}, error, fewer, extra, missing, worst quality, jpeg artifacts, bad quality, watermark, unfinished, displeasing, chromatic aberration, signature, extra digits, artistic error, username, scan, [abstract]",
                 fields: ["Steps": "28", "Sampler": "Euler a", "Schedule type": "Automatic", "CFG scale": "5", "Seed": "2906325591",
                          "Size": "832x1216", "Model": "Stable Diffusion XL C1E1DE52"],
                 notes: ["NovelAI's models are not public", "SMEA", "quality tags"]),
        Expected(file: "swarmui.png", source: .swarmUI,
                 prompt: "a watercolor painting of a lighthouse, soft light <lora:watercolor_v1:0.8>", negative: "photo, blurry",
                 fields: ["Steps": "30", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "6.5", "Seed": "1851237587",
                          "Size": "832x1216", "Model": "sd_xl_base_1.0", "Model hash": "31e35c80fc", "Clip skip": "2", "RNG": "CPU"],
                 notes: ["LoRAs were added to the prompt"]),
    ]

    @Test(arguments: expected) func fixtureFieldsAndNotes(_ expected: Expected) throws {
        let metadata = try Self.read(expected.file)
        #expect(metadata.source == expected.source)
        #expect(metadata.generations.count == expected.generations)
        let generation = try #require(metadata.generations.first)
        #expect(generation.infotext.prompt == expected.prompt)
        #expect(generation.infotext.negativePrompt == expected.negative)
        for (key, value) in expected.fields {
            #expect(generation.infotext[key] == value, "\(key)")
        }
        for piece in expected.notes {
            #expect(generation.notes.contains { $0.contains(piece) }, "no note with \"\(piece)\" in \(generation.notes)")
        }
        if expected.notes.isEmpty { #expect(generation.notes.isEmpty, "\(generation.notes)") }
    }

    /// Every fixture's first generation is a request stipple runs on the bundled model: the
    /// sampler and schedule names it was given all parse, and the size, steps and seed are its own.
    @Test(arguments: expected) func firstGenerationIsARunnableRequest(_ expected: Expected) throws {
        let generation = try #require(try Self.read(expected.file).generations.first)
        let request = try GenerationRequest(infotext: generation.infotext)
        #expect(request.prompt == generation.infotext.prompt)
        if let size = generation.infotext.size { #expect(request.width == size.width && request.height == size.height) }
        if let steps = generation.infotext["Steps"] { #expect(String(request.steps) == steps) }
        if let seed = generation.infotext["Seed"] { #expect(request.seed.map { String($0) } == seed) }
        // Sampled as the tool samples: InvokeAI 3 with diffusers' classes, the rest with k-diffusion.
        #expect(request.samplingConvention == (expected.file.hasPrefix("invokeai_v3") ? .diffusers : .kDiffusion))
        let model = try PipelineTests.models.model("sd1")
        var small = request
        (small.width, small.height, small.steps) = (64, 64, 1)
        try small.validate(for: model)
    }

    /// ComfyUI names map to the sampler and schedule stipple runs (SamplerChoice, SigmaSchedule).
    @Test func comfyUINamesBecomeStippleSamplers() throws {
        func request(_ sampler: String, _ scheduler: String) throws -> (GenerationRequest, [String]) {
            let mapping = ForeignSamplerNames.comfyUI(sampler: sampler, scheduler: scheduler, tool: "ComfyUI")
            var fields = GenerationFields(tool: "ComfyUI")
            fields.apply(mapping)
            let generation = fields.generation()
            return (try GenerationRequest(infotext: generation.infotext), generation.notes)
        }
        let (karras, _) = try request("dpmpp_2m", "karras")
        #expect(karras.sampler == .dpmpp2M && karras.schedule == .karras)
        let (ancestral, none) = try request("euler_ancestral", "normal")
        #expect(ancestral.sampler == .eulerA && ancestral.schedule == .model && none.isEmpty)
        let (sgm, _) = try request("euler", "sgm_uniform")
        #expect(sgm.timestepSpacing == .trailing)
        let (simple, simpleNotes) = try request("lms", "simple")
        #expect(simple.sampler == .lms && simple.timestepSpacing == .trailing && simpleNotes.contains { $0.contains("'simple'") })
        let (unknown, notes) = try request("res_multistep", "kl_optimal")
        #expect(unknown.sampler == GenerationRequest(prompt: "").sampler)
        #expect(notes == ["ComfyUI sampler 'res_multistep' has no stipple equivalent; using default",
                          "ComfyUI scheduler 'kl_optimal' has no stipple equivalent; using default"])
    }

    /// The base and refiner of a two-KSamplerAdvanced graph: the base (which starts the image)
    /// first, the refiner labelled, with its own checkpoint and seed.
    @Test func comfyUIRefinerGraphListsBothSamplers() throws {
        let metadata = try Self.read("comfyui_refiner.png")
        #expect(metadata.generations.map(\.label) == ["KSamplerAdvanced node 10", "KSamplerAdvanced node 11"])
        let refiner = metadata.generations[1]
        #expect(refiner.infotext["Model"] == "sd_xl_refiner_1.0" && refiner.infotext["Seed"] == "0")
        #expect(refiner.notes.contains { $0.contains("continues the latent from KSamplerAdvanced node 10") })
    }

    @Test func workflowAloneIsANoteNotAGeneration() throws {
        let metadata = try Self.read("comfyui_workflow_only.png")
        #expect(metadata.source == .comfyUI && metadata.generations.isEmpty)
        #expect(metadata.notes.first?.contains("only ComfyUI's UI workflow") == true)
    }

    @Test func imagesWithoutKnownMetadataAreNil() throws {
        #expect(try ImageMetadata.read(texts: []) == nil)
        #expect(try ImageMetadata.read(texts: [("Software", "GIMP"), ("Comment", "holiday photo")]) == nil)
    }

    /// stipple's own text is its own source; A1111 without a Version is A1111's.
    @Test func stippleAndA1111AreToldApart() throws {
        let stipple = try ImageMetadata.read(texts: [("parameters", "a cat\nSteps: 4, Sampler: Euler, Seed: 1, Version: stipple 0.1.0")])
        #expect(stipple?.source == .stipple)
        let a1111 = try ImageMetadata.read(texts: [("parameters", "a cat\nSteps: 4, Sampler: Euler, Seed: 1")])
        #expect(a1111?.source == .a1111 && a1111?.generations.first?.infotext["Seed"] == "1")
    }

    /// stable-diffusion.cpp before its SDCPP JSON tail, and a scheduler it names that stipple lacks.
    @Test func olderStableDiffusionCppText() throws {
        let text = "a house\nSteps: 8, CFG scale: 4.500000, Guidance: 3.500000, Eta: 0.000000, Seed: 7, Size: 256x256, "
            + "Model: model.gguf, RNG: cpu, Sampler: dpm++2m ays, Version: stable-diffusion.cpp"
        let generation = try #require(try ImageMetadata.read(texts: [("parameters", text)])?.generations.first)
        #expect(generation.infotext["Sampler"] == "DPM++ 2M" && generation.infotext["Schedule type"] == nil)
        #expect(generation.infotext["CFG scale"] == "4.5" && generation.infotext["Model"] == "model")
        #expect(generation.notes == ["stable-diffusion.cpp scheduler 'ays' has no stipple equivalent; using default"])
        _ = try GenerationRequest(infotext: generation.infotext)
    }

    // MARK: Hostile input: no crash, a note or a one-line error

    static func comfy(_ graph: String) throws -> ImageMetadata? {
        try ImageMetadata.read(texts: [("prompt", graph)])
    }

    @Test func cyclicAndDanglingLinksEndWithANote() throws {
        // The positive conditioning loops through two area nodes; the model loops; the latent
        // points at a node that does not exist.
        let graph = """
            {"1": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 7, "sampler_name": "euler", "scheduler": "normal",
                   "denoise": 1, "model": ["2", 0], "positive": ["3", 0], "negative": ["9", 0], "latent_image": ["99", 0]}},
             "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "a.safetensors", "strength_model": 1, "strength_clip": 1, "model": ["2", 0]}},
             "3": {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["4", 0]}},
             "4": {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["3", 0]}},
             "9": {"class_type": "CLIPTextEncode", "inputs": {"text": ["9", 0]}},
             "5": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
            """
        let generation = try #require(try Self.comfy(graph)?.generations.first)
        #expect(generation.notes.contains { $0.contains("cycle") })
        #expect(generation.infotext.prompt == "<lora:a:1>" && generation.infotext["Size"] == nil)
        #expect(generation.infotext["Steps"] == "2")
    }

    @Test func wrongTypesAndHugeNumbersAreNotes() throws {
        let graph = """
            {"1": {"class_type": "KSampler", "inputs": {"seed": 1e300, "steps": "many", "cfg": true, "sampler_name": 5, "scheduler": null,
                   "denoise": 1, "positive": [1, 2, 3], "negative": {"a": 1}, "latent_image": ["2", 0]}},
             "2": {"class_type": "EmptyLatentImage", "inputs": {"width": -64, "height": 64, "batch_size": 1.5}},
             "3": "not a node", "4": {"class_type": 7, "inputs": []}}
            """
        let metadata = try #require(try Self.comfy(graph))
        let generation = try #require(metadata.generations.first)
        #expect(generation.infotext["Seed"] == nil && generation.infotext["Steps"] == nil && generation.infotext["CFG scale"] == nil)
        #expect(generation.notes.contains("ComfyUI seed 1e+300 is not a whole number; left out"))
        #expect(metadata.notes.contains { $0.contains("2 entries of the graph are not nodes") })
        #expect(generation.infotext["Size"] == "-64x64")
        // A negative size is passed on, and refused by the request with one line.
        #expect(throws: GenerationError.self) { try GenerationRequest(infotext: generation.infotext) }
    }

    @Test func deepNaNAndOversizedJSONAreOneLineErrors() throws {
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: MetadataError("the image's ComfyUI prompt graph is not valid JSON")) { try Self.comfy(deep) }
        #expect(throws: MetadataError("the image's invokeai_metadata is not valid JSON")) {
            try ImageMetadata.read(texts: [("invokeai_metadata", #"{"seed": NaN}"#)])
        }
        let huge = "{\"x\": \"" + String(repeating: "a", count: ImageMetadata.maximumLength) + "\"}"
        #expect(throws: MetadataError.self) { try Self.comfy(huge) }
        #expect(throws: MetadataError("the image's parameters text is JSON from a tool stipple does not know")) {
            try ImageMetadata.read(texts: [("parameters", #"{"hello": 1}"#)])
        }
    }

    /// A graph of many chained nodes is walked within its bounds, quickly.
    @Test func longChainsAndManySamplersStayBounded() throws {
        var nodes = [#""0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}}"#]
        for i in 1...3000 {
            nodes.append(#""\#(i)": {"class_type": "LoraLoader", "inputs": {"lora_name": "l\#(i)", "strength_model": 1, "model": ["\#(i - 1)", 0]}}"#)
        }
        nodes.append(#""s": {"class_type": "KSampler", "inputs": {"model": ["3000", 0], "steps": 3}}"#)
        let metadata = try #require(try Self.comfy("{" + nodes.joined(separator: ",") + "}"))
        let generation = try #require(metadata.generations.first)
        #expect(generation.infotext["Steps"] == "3" && generation.infotext["Model"] == nil)
        #expect(generation.notes.contains("the model passes through more than 256 nodes; the rest were not read"))
    }

    /// Thousands of sampler nodes, each continuing the last: listed up to the bound, quickly.
    @Test func manySamplersAreBounded() throws {
        var nodes = [#""0": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}}"#]
        for i in 1...5000 {
            nodes.append(#""\#(i)": {"class_type": "KSampler", "inputs": {"steps": 2, "latent_image": ["\#(i - 1)", 0]}}"#)
        }
        let started = Date()
        let metadata = try #require(try Self.comfy("{" + nodes.joined(separator: ",") + "}"))
        #expect(metadata.generations.count == ComfyUIGraph.maximumGenerations)
        #expect(metadata.notes.contains { $0.contains("sampler nodes; the first 32 are listed") })
        #expect(metadata.generations.first?.label == "KSampler node 1" && metadata.generations.first?.infotext["Size"] == "64x64")
        #expect(Date().timeIntervalSince(started) < 20)
    }

    /// InvokeAI 2's bracketed negatives and its Dream switches with or without spaces.
    @Test func invokeAIPromptsAndSwitches() {
        #expect(InvokeAIMetadata.splitPrompt("a cat [dog] on a mat [blurry]") == ("a cat  on a mat", "(dog)(blurry)"))
        #expect(InvokeAIMetadata.splitPrompt("unclosed [bracket") == ("unclosed [bracket", ""))
        let dream = InvokeAIMetadata.readDream(#""a "quoted" owl" -s 12 -S7 -A k_euler_a -G0.5 --seamless"#)
        let generation = dream.generations[0]
        #expect(generation.infotext.prompt == #"a "quoted" owl"#)
        #expect(generation.infotext["Steps"] == "12" && generation.infotext["Seed"] == "7" && generation.infotext["Sampler"] == "Euler a")
        #expect(generation.notes.count == 2)
    }
}
