import Diffusion
import Foundation
import Testing
@testable import Remote

/// The graphs stipple sends ComfyUI: equal to the ones recorded against ComfyUI 0.8.0 (which
/// ran them), every sampler and schedule mapping, LoRA names matched against the server's list,
/// and saved API-format workflows filled in.
@Suite struct ComfyUIWorkflowTests {
    static let checkpoint = "sd15-fp16-ldm.safetensors"
    static let loras = ["stipple_broken_lora.safetensors", "stipple_tiny_lora.safetensors"]

    /// The request the recordings were made with (tools/record_comfyui.py).
    static func recordedRequest(seed: UInt64) -> GenerationRequest {
        var request = GenerationRequest(prompt: "a red circle on a white background")
        request.negativePrompt = "blurry"
        (request.steps, request.cfgScale, request.seed) = (4, 7, seed)
        (request.width, request.height) = (64, 64)
        return request
    }

    static func build(_ request: GenerationRequest, initImage: String? = nil) throws -> ComfyUIWorkflow {
        try ComfyUIWorkflow(request: request, seed: request.seed ?? 0, checkpoint: checkpoint,
                            size: (request.width ?? 64, request.height ?? 64), loras: loras, initImageName: initImage)
    }

    /// Two JSON values equal as JSON (numbers by value: 7 == 7.0).
    static func sameJSON(_ a: Any, _ b: Any) throws -> Bool {
        let options: JSONSerialization.WritingOptions = [.sortedKeys]
        let x = try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: a, options: options))
        let y = try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: b, options: options))
        return (x as? NSDictionary)?.isEqual(y) ?? false
    }

    @Test(arguments: [("txt2img.json", UInt64(42)), ("lora.json", 47), ("img2img.json", 46)])
    func graphIsTheRecordedOne(file: String, seed: UInt64) throws {
        let recorded = try #require(ComfyUIFixture.load(file).postedPrompts.first)
        var request = Self.recordedRequest(seed: seed)
        var initImage: String?
        if file == "lora.json" { request.prompt += " <lora:stipple_tiny_lora:0.8>" }
        if file == "img2img.json" {
            request.initImage = PixelImage(width: 64, height: 64, rgb: [UInt8](repeating: 200, count: 64 * 64 * 3))
            request.strength = 0.6
            initImage = "stipple_init.png"
        }
        let workflow = try Self.build(request, initImage: initImage)
        #expect(try Self.sameJSON(workflow.graph, recorded), "\(file): \(workflow.graph)")
        #expect(workflow.warnings.isEmpty)
        #expect(workflow.decodeNodes == ["8"])
        // JSONSerialization must be able to send it (seeds are UInt64).
        #expect(JSONSerialization.isValidJSONObject(["prompt": workflow.graph]))
    }

    @Test func resolvedRequestIsWhatComfyUIRan() throws {
        var request = Self.recordedRequest(seed: 0)
        (request.width, request.height, request.batchCount) = (nil, nil, 3)
        let workflow = try ComfyUIWorkflow(request: request, seed: 1234, checkpoint: Self.checkpoint, size: (512, 768),
                                           loras: [], initImageName: nil)
        let resolved = workflow.request
        #expect(resolved.seed == 1234 && resolved.width == 512 && resolved.height == 768 && resolved.batchCount == 1)
        #expect(resolved.sampler == .euler && resolved.samplingConvention == .kDiffusion)
        #expect(resolved.noiseSource == .cpu && resolved.noiseSeedDelta == 1)
    }

    @Test func everySamplerMapsOrIsRefused() throws {
        let expected: [SamplerName: String] = [
            .default: "euler", .euler: "euler", .eulerA: "euler_ancestral", .heun: "heun", .dpm2: "dpm_2",
            .dpm2A: "dpm_2_ancestral", .lms: "lms", .dpmpp2M: "dpmpp_2m", .dpmpp2MSDE: "dpmpp_2m_sde", .ddim: "ddim",
            .ddpm: "ddpm", .unipc: "uni_pc", .deis: "deis", .lcm: "lcm",
        ]
        let recorded = try ComfyUIFixture.samplerNames()
        for sampler in SamplerName.allCases {
            var request = Self.recordedRequest(seed: 1)
            request.sampler = sampler
            if let name = expected[sampler] {
                let graph = try Self.build(request).graph
                let inputs = try #require((graph["3"] as? [String: Any])?["inputs"] as? [String: Any])
                #expect(inputs["sampler_name"] as? String == name, "\(sampler)")
                #expect(recorded.samplers.contains(name), "\(name) is not one of ComfyUI 0.8.0's samplers")
            } else {
                #expect([SamplerName.pndm, .flowEuler].contains(sampler))
                let error = #expect(throws: ComfyUIWorkflowError.self) { try Self.build(request) }
                #expect(error?.description.contains("ComfyUI has no") == true)
                #expect(error?.description.contains("\n") == false)
            }
        }
    }

    @Test func everyScheduleMaps() throws {
        let recorded = try ComfyUIFixture.samplerNames()
        let cases: [(SigmaSchedule, TimestepSpacing?, String, Bool)] = [
            (.model, nil, "normal", false), (.uniform, nil, "normal", false), (.karras, nil, "karras", false),
            (.exponential, nil, "exponential", false), (.model, .trailing, "simple", false), (.karras, .trailing, "karras", false),
            (.model, .leading, "normal", true), (.model, .linspace, "normal", true),
        ]
        for (schedule, spacing, name, warns) in cases {
            var request = Self.recordedRequest(seed: 1)
            (request.schedule, request.timestepSpacing) = (schedule, spacing)
            let workflow = try Self.build(request)
            let inputs = try #require((workflow.graph["3"] as? [String: Any])?["inputs"] as? [String: Any])
            #expect(inputs["scheduler"] as? String == name, "\(schedule) \(String(describing: spacing))")
            #expect(recorded.schedulers.contains(name))
            #expect(!workflow.warnings.isEmpty == warns)
            #expect(workflow.request.timestepSpacing == (name == "simple" ? .trailing : nil))
        }
    }

    @Test func clipSkipAddsCLIPSetLastLayerAfterTheLoRAs() throws {
        var request = Self.recordedRequest(seed: 1)
        request.clipSkip = 2
        request.prompt = "<lora:stipple_tiny_lora:0.5:0.25> a cat"
        let graph = try Self.build(request).graph
        let skip = try #require(graph["13"] as? [String: Any])
        #expect(skip["class_type"] as? String == "CLIPSetLastLayer")
        let inputs = try #require(skip["inputs"] as? [String: Any])
        #expect(inputs["stop_at_clip_layer"] as? Int == -2)
        #expect(try Self.sameJSON(["c": inputs["clip"] as Any], ["c": ["12", 1]]))
        let lora = try #require((graph["12"] as? [String: Any])?["inputs"] as? [String: Any])
        #expect(lora["strength_clip"] as? Double == 0.5 && lora["strength_model"] as? Double == 0.25)
        for id in ["6", "7"] {
            let encoder = try #require((graph[id] as? [String: Any])?["inputs"] as? [String: Any])
            #expect(try Self.sameJSON(["c": encoder["clip"] as Any], ["c": ["13", 0]]))
        }
        let sampler = try #require((graph["3"] as? [String: Any])?["inputs"] as? [String: Any])
        #expect(try Self.sameJSON(["m": sampler["model"] as Any], ["m": ["12", 0]]))
        let text = try #require((graph["6"] as? [String: Any])?["inputs"] as? [String: Any])
        #expect(text["text"] as? String == "a cat")
    }

    @Test func loraChainInPromptOrder() throws {
        var request = Self.recordedRequest(seed: 1)
        request.prompt = "x <lora:stipple_tiny_lora:1> y <lora:stipple_broken_lora:0.3>"
        let graph = try Self.build(request).graph
        let first = try #require((graph["12"] as? [String: Any])?["inputs"] as? [String: Any])
        let second = try #require((graph["13"] as? [String: Any])?["inputs"] as? [String: Any])
        #expect(first["lora_name"] as? String == "stipple_tiny_lora.safetensors")
        #expect(second["lora_name"] as? String == "stipple_broken_lora.safetensors")
        #expect(try Self.sameJSON(["m": second["model"] as Any, "c": second["clip"] as Any], ["m": ["12", 0], "c": ["12", 1]]))
        let sampler = try #require((graph["3"] as? [String: Any])?["inputs"] as? [String: Any])
        #expect(try Self.sameJSON(["m": sampler["model"] as Any], ["m": ["13", 0]]))
    }

    @Test func loraNamesMatchTheServersFiles() throws {
        let server = ["a.safetensors", "styles/Fox_Style.safetensors", "old\\pencil.pt", "x/dup.safetensors", "y/dup.ckpt", "exact"]
        #expect(try ComfyUIWorkflow.matchLoRA("a", in: server) == "a.safetensors")
        #expect(try ComfyUIWorkflow.matchLoRA("a.safetensors", in: server) == "a.safetensors")
        #expect(try ComfyUIWorkflow.matchLoRA("fox_style", in: server) == "styles/Fox_Style.safetensors")
        #expect(try ComfyUIWorkflow.matchLoRA("styles/fox_style", in: server) == "styles/Fox_Style.safetensors")
        #expect(try ComfyUIWorkflow.matchLoRA("pencil", in: server) == "old\\pencil.pt")
        #expect(try ComfyUIWorkflow.matchLoRA("old/pencil", in: server) == "old\\pencil.pt")
        #expect(try ComfyUIWorkflow.matchLoRA("exact", in: server) == "exact")
        #expect(try ComfyUIWorkflow.matchLoRA("x/dup", in: server) == "x/dup.safetensors")

        let ambiguous = #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIWorkflow.matchLoRA("dup", in: server) }
        #expect(ambiguous?.description == "<lora:dup> matches 2 LoRAs on the server (x/dup.safetensors, y/dup.ckpt): write the folder too")
        let unknown = #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIWorkflow.matchLoRA("fox_styel", in: server) }
        #expect(unknown?.description == "<lora:fox_styel> is not a LoRA on the server; close: styles/Fox_Style.safetensors")
        let far = #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIWorkflow.matchLoRA("zzzzzzzz", in: server) }
        #expect(far?.description == "<lora:zzzzzzzz> is not a LoRA on the server")
        let none = #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIWorkflow.matchLoRA("q", in: []) }
        #expect(none?.description == "<lora:q> is not a LoRA on the server; the server has no LoRAs")
        let hostile = #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIWorkflow.matchLoRA("a\u{1B}[2Jb", in: server) }
        #expect(hostile?.description.contains("\u{1B}") == false)

        var request = Self.recordedRequest(seed: 1)
        request.prompt = "a cat <lora:nope:1>"
        #expect(throws: ComfyUIWorkflowError.self) { try Self.build(request) }
    }

    @Test func a1111PromptSyntaxIsWarnedAbout() throws {
        for (prompt, warns) in [("a [cat:dog:0.5]", true), ("a [cat|dog]", true), ("a cat AND a dog", true), ("a cat BREAK a dog", true),
                                ("a (cat:1.2), [dog]", false), ("plain", false)] {
            var request = Self.recordedRequest(seed: 1)
            request.prompt = prompt
            let workflow = try Self.build(request)
            #expect(workflow.warnings.contains { $0.contains("ComfyUI reads as plain text") } == warns, "\(prompt)")
            let text = try #require((workflow.graph["6"] as? [String: Any])?["inputs"] as? [String: Any])
            #expect(text["text"] as? String == prompt, "the prompt is sent as it is")
        }
    }

    // MARK: Saved workflows

    /// A saved workflow gets the prompt, negative prompt and seed; its size, steps, CFG and
    /// sampler stay its own, and the request its images report is read back from the graph.
    @Test func savedWorkflowGetsPromptAndSeedAndKeepsItsOwnSettings() throws {
        let saved = try #require(ComfyUIFixture.load("txt2img.json").postedPrompts.first)
        var request = GenerationRequest(prompt: "a blue square")
        (request.negativePrompt, request.steps, request.cfgScale) = ("ugly", 9, 5.5)
        let workflow = try ComfyUIWorkflow(saved: saved, request: request, seed: 99, size: (128, 96))
        func inputs(_ id: String) throws -> [String: Any] {
            try #require((workflow.graph[id] as? [String: Any])?["inputs"] as? [String: Any])
        }
        #expect(try inputs("6")["text"] as? String == "a blue square")
        #expect(try inputs("7")["text"] as? String == "ugly")
        #expect(try inputs("3")["seed"] as? UInt64 == 99)
        #expect(try inputs("3")["steps"] as? Int == 4 && inputs("3")["cfg"] as? Double == 7)
        #expect(try inputs("5")["width"] as? Int == 64 && inputs("5")["height"] as? Int == 64)
        #expect(try inputs("3")["sampler_name"] as? String == "euler", "the workflow's own sampler stays")
        #expect(workflow.decodeNodes == ["8"])
        let reported = workflow.request
        #expect(reported.seed == 99 && reported.samplingConvention == .kDiffusion && reported.noiseSeedDelta == 1)
        #expect(reported.steps == 4 && reported.cfgScale == 7 && reported.width == 64 && reported.sampler == .euler)
        #expect(reported.prompt == "a blue square" && reported.negativePrompt == "ugly")
        // No negative prompt given: the workflow's stays.
        let keeps = try ComfyUIWorkflow(saved: saved, request: GenerationRequest(prompt: "a cat"), seed: 1, size: nil)
        #expect(((keeps.graph["7"] as? [String: Any])?["inputs"] as? [String: Any])?["text"] as? String == "blurry")
    }

    /// SamplerCustomAdvanced with RandomNoise, CFGGuider, BasicScheduler and the prompt in a
    /// primitive node: each value is filled where it is held.
    @Test func savedCustomSamplerWorkflowFillsThroughLinks() throws {
        let saved: [String: Any] = [
            "1": ["class_type": "CheckpointLoaderSimple", "inputs": ["ckpt_name": "m.safetensors"]],
            "2": ["class_type": "PrimitiveString", "inputs": ["value": "old prompt"]],
            "3": ["class_type": "CLIPTextEncode", "inputs": ["text": ["2", 0], "clip": ["1", 1]]],
            "4": ["class_type": "CLIPTextEncode", "inputs": ["text": "old negative", "clip": ["1", 1]]],
            "5": ["class_type": "RandomNoise", "inputs": ["noise_seed": 7]],
            "6": ["class_type": "CFGGuider", "inputs": ["model": ["1", 0], "positive": ["3", 0], "negative": ["4", 0], "cfg": 3.0]],
            "7": ["class_type": "KSamplerSelect", "inputs": ["sampler_name": "euler"]],
            "8": ["class_type": "BasicScheduler", "inputs": ["model": ["1", 0], "scheduler": "normal", "steps": 20, "denoise": 1.0]],
            "9": ["class_type": "EmptySD3LatentImage", "inputs": ["width": 1024, "height": 1024, "batch_size": 1]],
            "10": ["class_type": "SamplerCustomAdvanced", "inputs": ["noise": ["5", 0], "guider": ["6", 0], "sampler": ["7", 0],
                                                                   "sigmas": ["8", 0], "latent_image": ["9", 0]]],
            "11": ["class_type": "VAEDecodeTiled", "inputs": ["samples": ["10", 0], "vae": ["1", 2]]],
            "12": ["class_type": "SaveImage", "inputs": ["images": ["11", 0], "filename_prefix": "x"]],
        ]
        var request = GenerationRequest(prompt: "new prompt <lora:x:1>")
        (request.negativePrompt, request.steps, request.cfgScale) = ("new negative", 12, 4)
        let workflow = try ComfyUIWorkflow(saved: saved, request: request, seed: 5, size: nil)
        func inputs(_ id: String) throws -> [String: Any] {
            try #require((workflow.graph[id] as? [String: Any])?["inputs"] as? [String: Any])
        }
        #expect(try inputs("2")["value"] as? String == "new prompt <lora:x:1>")
        #expect(try Self.sameJSON(["t": inputs("3")["text"] as Any], ["t": ["2", 0]]), "the link stays")
        #expect(try inputs("4")["text"] as? String == "new negative")
        #expect(try inputs("5")["noise_seed"] as? UInt64 == 5)
        #expect(try inputs("6")["cfg"] as? Double == 3, "the workflow's CFG stays")
        #expect(try inputs("8")["steps"] as? Int == 20, "the workflow's steps stay")
        #expect(try inputs("9")["width"] as? Int == 1024, "the workflow's size stays")
        #expect(workflow.decodeNodes == ["11"])
        #expect(workflow.warnings.contains { $0.contains("<lora:") })
    }

    @Test func uiFormatAndUnusableWorkflowsAreRefused() throws {
        let ui: [String: Any] = ["last_node_id": 9, "nodes": [["id": 3, "type": "KSampler"]], "links": [[1, 4, 0, 3, 0, "MODEL"]]]
        let error = #expect(throws: ComfyUIWorkflowError.self) {
            try ComfyUIWorkflow(saved: ui, request: GenerationRequest(prompt: "x"), seed: 1, size: nil)
        }
        #expect(error?.description.contains("Save (API format)") == true)
        #expect(error?.description.contains("\n") == false)

        let noSampler: [String: Any] = ["1": ["class_type": "CheckpointLoaderSimple", "inputs": ["ckpt_name": "m"]]]
        #expect(throws: ComfyUIWorkflowError.self) {
            try ComfyUIWorkflow(saved: noSampler, request: GenerationRequest(prompt: "x"), seed: 1, size: nil)
        }
        let cyclic: [String: Any] = [
            "3": ["class_type": "KSampler", "inputs": ["seed": ["3", 0], "positive": ["6", 0], "negative": ["6", 0]]],
            "6": ["class_type": "ConditioningCombine", "inputs": ["conditioning_1": ["6", 0]]],
        ]
        #expect(throws: ComfyUIWorkflowError.self) {
            try ComfyUIWorkflow(saved: cyclic, request: GenerationRequest(prompt: "x"), seed: 1, size: nil)
        }
    }
}
