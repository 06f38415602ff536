import Diffusion
import Foundation
import Imaging
import Testing
@testable import Remote

/// The catalogs of the recorded servers, read from the fixtures' replies.
enum A1111Catalogs {
    /// The JSON body of the first exchange for `path` in fixture `file` (under Fixtures/a1111).
    static func body(_ file: String, _ path: String) throws -> Any {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/a1111").appendingPathComponent(file)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let exchanges = try #require(root["exchanges"] as? [[String: Any]])
        let exchange = try #require(exchanges.first { $0["path"] as? String == path }, "\(file) has no \(path)")
        return try #require(exchange["body_json"])
    }

    static func catalog(_ file: String, flavor: A1111Flavor) throws -> A1111Catalog {
        var catalog = A1111Catalog(flavor: flavor)
        catalog.checkpoints = A1111Catalog.checkpoints(from: try #require(try body(file, "/sdapi/v1/sd-models") as? [Any]))
        catalog.samplers = A1111Catalog.samplers(from: try #require(try body(file, "/sdapi/v1/samplers") as? [Any]))
        catalog.schedulers = A1111Catalog.schedulers(from: try #require(try body(file, "/sdapi/v1/schedulers") as? [Any]))
        catalog.loras = A1111Catalog.loras(from: try #require(try body(file, "/sdapi/v1/loras") as? [Any]))
        return catalog
    }

    static func sdcpp() throws -> A1111Catalog {
        var catalog = try catalog("sdcpp-catalog.json", flavor: .stableDiffusionCpp)
        let capabilities = try #require(try body("sdcpp-catalog.json", "/sdcpp/v1/capabilities") as? [String: Any])
        (catalog.maxWidth, catalog.maxHeight) = A1111Catalog.maxSize(fromCapabilities: capabilities)
        return catalog
    }
    static func a1111() throws -> A1111Catalog { try catalog("a1111-catalog.json", flavor: .automatic1111) }

    /// A1111 1.6-1.8: no `/schedulers`, the Karras variants are samplers of their own (the list
    /// as those versions' `samplers_k_diffusion` named them).
    static func a1111Before19() -> A1111Catalog {
        let names = ["DPM++ 2M Karras", "DPM++ SDE Karras", "DPM++ 2M SDE Exponential", "Euler a", "Euler", "LMS", "Heun", "DPM2",
                     "DPM2 a", "DPM++ 2M", "LMS Karras", "DPM2 Karras", "DDIM", "PLMS", "UniPC"]
        return A1111Catalog(flavor: .automatic1111, checkpoints: [A1111Checkpoint(title: "v1-5-pruned-emaonly.safetensors [6ce0161689]",
                                                                                  modelName: "v1-5-pruned-emaonly", hash: "6ce0161689")],
                            samplers: names.map { A1111Sampler(name: $0) }, schedulers: nil)
    }
}

@Suite struct A1111PayloadTests {
    static let sd15 = RemoteCheckpoint(name: "sd15-fp16-ldm", server: "stable-diffusion.cpp sd-server")
    static let a1111Model = RemoteCheckpoint(name: "v1-5-pruned-emaonly.safetensors [6ce0161689]", hash: "6ce0161689", server: "A1111")

    static func request(_ configure: (inout GenerationRequest) -> Void = { _ in }) -> GenerationRequest {
        var request = GenerationRequest(prompt: "a red fox in the snow")
        request.negativePrompt = "blurry"
        (request.width, request.height, request.steps, request.seed) = (64, 64, 4, 42)
        configure(&request)
        return request
    }

    static func payload(_ request: GenerationRequest, _ catalog: A1111Catalog, index: Int = 0) throws(A1111Error) -> A1111Payload {
        let checkpoint = catalog.flavor == .stableDiffusionCpp ? sd15 : a1111Model
        return try A1111Payload(request: request, imageIndex: index, firstSeed: request.seed ?? 0, checkpoint: checkpoint, catalog: catalog)
    }

    /// The refusal `build` throws: one line.
    static func refusal(_ build: () throws(A1111Error) -> A1111Payload) -> String? {
        do {
            _ = try build()
            return nil
        } catch {
            #expect(!error.description.contains("\n"))
            return error.description
        }
    }

    // MARK: A1111 names

    @Test func a1111SamplerForEveryStippleSampler() throws {
        let catalog = try A1111Catalogs.a1111()
        let expected: [SamplerName: String] = [
            .default: "Euler", .euler: "Euler", .eulerA: "Euler a", .heun: "Heun", .dpm2: "DPM2", .dpm2A: "DPM2 a", .lms: "LMS",
            .dpmpp2M: "DPM++ 2M", .dpmpp2MSDE: "DPM++ 2M SDE", .ddim: "DDIM", .pndm: "PLMS", .unipc: "UniPC", .lcm: "LCM",
        ]
        for sampler in SamplerName.allCases {
            let request = Self.request { $0.sampler = sampler }
            if let name = expected[sampler] {
                let payload = try Self.payload(request, catalog)
                #expect(payload.samplerName == name, "\(sampler)")
                #expect(payload.scheduler == "Automatic")
                #expect(payload.resolved.sampler == (sampler == .default ? .euler : sampler))
                #expect(payload.resolved.samplingConvention == .kDiffusion)
            } else {
                // DDPM, DEIS, flow Euler: A1111 has no such sampler.
                let message = try #require(Self.refusal { () throws(A1111Error) in try Self.payload(request, catalog) })
                #expect(message.contains("has no A1111 name"), "\(message)")
            }
        }
    }

    @Test func a1111Schedules() throws {
        let catalog = try A1111Catalogs.a1111()
        let cases: [(SigmaSchedule, TimestepSpacing?, String)] = [
            (.model, nil, "Automatic"), (.karras, nil, "Karras"), (.exponential, nil, "Exponential"), (.uniform, nil, "Uniform"),
            (.model, .trailing, "SGM Uniform"),
        ]
        for (schedule, spacing, label) in cases {
            let payload = try Self.payload(Self.request { ($0.sampler, $0.schedule, $0.timestepSpacing) = (.dpmpp2M, schedule, spacing) }, catalog)
            #expect(payload.samplerName == "DPM++ 2M")
            #expect(payload.scheduler == label)
        }
        // Automatic is the sampler's own choice, which the request then records: Karras for
        // DPM++ 2M, k-diffusion's own for Euler.
        #expect(try Self.payload(Self.request { $0.sampler = .dpmpp2M }, catalog).resolved.schedule == .karras)
        #expect(try Self.payload(Self.request { $0.sampler = .dpmpp2MSDE }, catalog).resolved.schedule == .exponential)
        #expect(try Self.payload(Self.request { $0.sampler = .euler }, catalog).resolved.schedule == .model)

        let clash = Self.refusal { () throws(A1111Error) in
            try Self.payload(Self.request { ($0.schedule, $0.timestepSpacing) = (.karras, .trailing) }, catalog)
        }
        #expect(clash?.contains("SGM Uniform") == true)
        let leading = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.timestepSpacing = .leading }, catalog) }
        #expect(leading?.contains("no leading timestep spacing") == true)
    }

    @Test func a1111Before19PutsTheScheduleInTheSamplerName() throws {
        let catalog = A1111Catalogs.a1111Before19()
        let karras = try Self.payload(Self.request { ($0.sampler, $0.schedule) = (.dpmpp2M, .karras) }, catalog)
        #expect(karras.samplerName == "DPM++ 2M Karras")
        #expect(karras.scheduler == nil)
        #expect(try karras.jsonObject()["scheduler"] == nil)
        let plain = try Self.payload(Self.request { $0.sampler = .eulerA }, catalog)
        #expect(plain.samplerName == "Euler a" && plain.scheduler == nil)
        let missing = Self.refusal { () throws(A1111Error) in
            try Self.payload(Self.request { ($0.sampler, $0.schedule) = (.eulerA, .karras) }, catalog)
        }
        #expect(missing?.contains("has no sampler Euler a Karras") == true)
    }

    @Test func a1111RefusesWhatItsListsLack() throws {
        var catalog = try A1111Catalogs.a1111()
        catalog.samplers.removeAll { $0.name == "UniPC" }
        let sampler = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.sampler = .unipc }, catalog) }
        #expect(sampler?.contains("has no sampler UniPC") == true)
        catalog.schedulers?.removeAll { $0.name == "exponential" }
        let schedule = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.schedule = .exponential }, catalog) }
        #expect(schedule?.contains("has no Exponential schedule") == true)
    }

    @Test func a1111Body() throws {
        let catalog = try A1111Catalogs.a1111()
        let request = Self.request {
            $0.noiseSource = .gpu
            $0.noiseSeedDelta = 31337
            $0.clipSkip = 2
            ($0.variationSeed, $0.variationStrength) = (1000, 0.25)
            $0.prompt = "a fox <lora:fox_style_v2:0.7>"
        }
        let payload = try Self.payload(request, catalog, index: 2)
        let body = try payload.jsonObject()
        #expect(payload.path == "/sdapi/v1/txt2img")
        #expect((body["seed"] as? NSNumber)?.uint64Value == 44)
        #expect((body["subseed"] as? NSNumber)?.uint64Value == 1002)
        #expect(body["subseed_strength"] as? Double == 0.25)
        #expect(body["prompt"] as? String == "a fox <lora:fox_style_v2:0.7>")
        #expect(body["negative_prompt"] as? String == "blurry")
        #expect(body["batch_size"] as? Int == 1 && body["n_iter"] as? Int == 1)
        #expect(body["send_images"] as? Bool == true && body["save_images"] as? Bool == false)
        #expect(body["steps"] as? Int == 4 && body["cfg_scale"] as? Double == 7 && body["width"] as? Int == 64)
        #expect(body["override_settings_restore_afterwards"] as? Bool == true)
        let settings = try #require(body["override_settings"] as? [String: Any])
        #expect(settings["sd_model_checkpoint"] as? String == "v1-5-pruned-emaonly.safetensors [6ce0161689]")
        #expect(settings["CLIP_stop_at_last_layers"] as? Int == 2)
        #expect((settings["eta_noise_seed_delta"] as? NSNumber)?.intValue == 31337)
        #expect(settings["randn_source"] as? String == "NV")
        #expect(settings["samples_format"] as? String == "png")
        #expect(body["lora"] == nil && body["clip_skip"] == nil && body["eta"] == nil)
        // Serialized as JSON, the seeds stay exact.
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        #expect(String(decoding: data, as: UTF8.self).contains("\"seed\":44"))
        #expect(payload.resolved.seed == 44 && payload.resolved.variationSeed == 1002 && payload.resolved.batchCount == 1)

        // The largest seed stipple takes goes out exactly.
        let largest = try Self.payload(Self.request { $0.seed = UInt64.max }, catalog).jsonObject()
        let largestText = String(decoding: try JSONSerialization.data(withJSONObject: largest), as: UTF8.self)
        #expect(largestText.contains("\"seed\":18446744073709551615"), "\(largestText.prefix(300))")

        let cpu = try Self.payload(Self.request { $0.noiseSource = .cpu }, catalog).jsonObject()
        let cpuSettings = try #require(cpu["override_settings"] as? [String: Any])
        #expect(cpuSettings["randn_source"] as? String == "CPU")
        #expect((cpuSettings["eta_noise_seed_delta"] as? NSNumber)?.intValue == 0)
        #expect((cpu["subseed"] as? NSNumber)?.intValue == -1 && cpu["subseed_strength"] as? Double == 0)

        // A checkpoint named by its stem goes out under the server's title.
        let byStem = try A1111Payload(request: Self.request(), imageIndex: 0, firstSeed: 42,
                                      checkpoint: RemoteCheckpoint(name: "v1-5-pruned-emaonly", server: "A1111"), catalog: catalog)
        #expect(byStem.checkpoint == "v1-5-pruned-emaonly.safetensors [6ce0161689]")

        let ddim = try Self.payload(Self.request { ($0.sampler, $0.eta) = (.ddim, 0.5) }, catalog).jsonObject()
        #expect(ddim["eta"] as? Double == 0.5)
    }

    @Test func a1111Refusals() throws {
        let catalog = try A1111Catalogs.a1111()
        let comfyDelta = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.noiseSeedDelta = 0 }, catalog) }
        #expect(comfyDelta?.contains("no ENSD 0") == true)
        let lora = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.prompt = "x <lora:nope:1>" }, catalog) }
        #expect(lora?.contains("LoRA \"nope\" is not one") == true)
        // Parameters read back from an image: the server skips it, as A1111 does, with a warning.
        let skipped = try Self.payload(Self.request { ($0.prompt, $0.skipsMissingLoRAs) = ("x <lora:nope:1>", true) }, catalog)
        #expect(skipped.warnings.contains { $0.contains("nope") })
        // Found by name or alias.
        #expect(try Self.payload(Self.request { $0.prompt = "x <lora:fox_style:1> <lora:fox_style_v2:1>" }, catalog).warnings.isEmpty)
    }

    @Test func img2imgSendsTheInitImageAsPNG() throws {
        var rgb = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for i in rgb.indices { rgb[i] = UInt8(truncatingIfNeeded: i * 7) }
        let image = PixelImage(width: 64, height: 64, rgb: rgb)
        for catalog in [try A1111Catalogs.a1111(), try A1111Catalogs.sdcpp()] {
            let payload = try Self.payload(Self.request { ($0.initImage, $0.strength) = (image, 0.6) }, catalog)
            #expect(payload.path == "/sdapi/v1/img2img")
            let body = try payload.jsonObject()
            #expect(body["denoising_strength"] as? Double == 0.6)
            let base64 = try #require((body["init_images"] as? [String])?.first)
            let png = try PNG.decode([UInt8](try #require(Data(base64Encoded: base64))))
            #expect(png.image.pixels == rgb && png.image.width == 64)
        }
    }

    // MARK: sd-server

    @Test func sdcppSamplerForEveryStippleSampler() throws {
        let catalog = try A1111Catalogs.sdcpp()
        let expected: [SamplerName: String] = [
            .default: "euler", .euler: "euler", .eulerA: "euler_a", .heun: "heun", .dpm2: "dpm2", .dpmpp2M: "dpm++2m",
            .dpmpp2MSDE: "dpm++2m_sde", .lcm: "lcm", .lms: "lms",
        ]
        for sampler in SamplerName.allCases where sampler != .ddim {
            let request = Self.request { $0.sampler = sampler }
            if let name = expected[sampler] {
                let payload = try Self.payload(request, catalog)
                #expect(payload.samplerName == name)
                #expect(payload.scheduler == nil)
            } else {
                let message = try #require(Self.refusal { () throws(A1111Error) in try Self.payload(request, catalog) }, "\(sampler)")
                #expect(message.contains("stable-diffusion.cpp sd-server has no"), "\(message)")
            }
        }
        // Its DDIM is ddim_trailing: only with trailing spacing.
        let ddim = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.sampler = .ddim }, catalog) }
        #expect(ddim?.contains("ddim_trailing") == true)
        let trailing = try Self.payload(Self.request { ($0.sampler, $0.timestepSpacing) = (.ddim, .trailing) }, catalog)
        #expect(trailing.samplerName == "ddim_trailing" && trailing.scheduler == nil)
    }

    @Test func sdcppSchedulers() throws {
        let catalog = try A1111Catalogs.sdcpp()
        let cases: [(SigmaSchedule, TimestepSpacing?, String?)] = [
            (.model, nil, nil), (.karras, nil, "karras"), (.exponential, nil, "exponential"), (.uniform, nil, "discrete"),
            (.model, .trailing, "sgm_uniform"),
        ]
        for (schedule, spacing, name) in cases {
            let payload = try Self.payload(Self.request { ($0.schedule, $0.timestepSpacing) = (schedule, spacing) }, catalog)
            #expect(payload.scheduler == name)
            #expect(try payload.jsonObject()["scheduler"] as? String == name)
        }
        var without = catalog
        without.schedulers?.removeAll { $0.name == "karras" }
        let missing = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request { $0.schedule = .karras }, without) }
        #expect(missing?.contains("has no karras scheduler") == true)
    }

    @Test func sdcppRefusesWhatItWouldIgnoreOrRound() throws {
        let catalog = try A1111Catalogs.sdcpp()
        let cases: [(String, (inout GenerationRequest) -> Void)] = [
            ("600x512 would come back 640x512", { $0.width = 600; $0.height = 512 }),
            ("at most 100 steps", { $0.steps = 101 }),
            ("at most 4096 wide, not 4160", { ($0.width, $0.height) = (4160, 512) }),
            ("no variation seeds", { ($0.variationSeed, $0.variationStrength) = (5, 0.5) }),
            ("no eta noise seed delta", { $0.noiseSeedDelta = 31337 }),
            ("no DDIM eta", { ($0.sampler, $0.timestepSpacing, $0.eta) = (.ddim, .trailing, 0.3) }),
            ("takes seeds up to", { $0.seed = UInt64.max }),
            ("LoRA \"other\" is not one", { $0.prompt = "fox <lora:other:1>" }),
            ("one weight per LoRA", { $0.prompt = "fox <lora:tiny_style:0.5:1>" }),
        ]
        for (expected, configure) in cases {
            let message = Self.refusal { () throws(A1111Error) in try Self.payload(Self.request(configure), catalog) }
            #expect(message?.contains(expected) == true, "\(expected): \(message ?? "accepted")")
        }
    }

    @Test func sdcppBodyCarriesLoRAsStructured() throws {
        let catalog = try A1111Catalogs.sdcpp()
        let request = Self.request { ($0.prompt, $0.clipSkip, $0.sampler) = ("a red fox <lora:tiny_style:0.8> in the snow", 2, .eulerA) }
        let payload = try Self.payload(request, catalog, index: 1)
        let body = try payload.jsonObject()
        #expect(body["prompt"] as? String == "a red fox  in the snow")
        let lora = try #require((body["lora"] as? [[String: Any]])?.first)
        #expect(lora["path"] as? String == "tiny_style.safetensors" && lora["multiplier"] as? Double == 0.8)
        #expect(lora["is_high_noise"] as? Bool == false)
        #expect(body["clip_skip"] as? Int == 2)
        #expect((body["seed"] as? NSNumber)?.intValue == 43)
        #expect(body["sampler_name"] as? String == "euler_a")
        // What sd-server does not read is not sent.
        for key in ["override_settings", "subseed", "subseed_strength", "eta"] { #expect(body[key] == nil, "\(key)") }
        // The image keeps the prompt as typed, tag included: stipple reads it back the same way.
        #expect(payload.resolved.prompt == request.prompt)
        // Found by its path too.
        let byPath = try Self.payload(Self.request { $0.prompt = "fox <lora:tiny_style.safetensors:1>" }, catalog)
        #expect(byPath.loras == [A1111Payload.LoRA(path: "tiny_style.safetensors", multiplier: 1)])
    }

    // MARK: Catalog parsing

    @Test func catalogsReadFromTheRecordedReplies() throws {
        let sdcpp = try A1111Catalogs.sdcpp()
        #expect(sdcpp.checkpoints == [A1111Checkpoint(title: "sd15-fp16-ldm", modelName: "sd15-fp16-ldm", hash: nil,
                                                      fileName: "sd15-fp16-ldm.safetensors")])
        #expect(sdcpp.samplers.first?.name == "default" && sdcpp.samplers.count == 22)
        #expect(sdcpp.loras == [A1111LoRA(name: "tiny_style", path: "tiny_style.safetensors")])
        #expect(sdcpp.checkpoint(named: "sd15-fp16-ldm.safetensors") != nil)
        #expect(sdcpp.serverName == "stable-diffusion.cpp sd-server")

        var a1111 = try A1111Catalogs.a1111()
        #expect(a1111.checkpoints.map(\.hash) == ["6ce0161689", nil])
        #expect(a1111.samplers.first == A1111Sampler(name: "DPM++ 2M", aliases: ["k_dpmpp_2m"], automaticSchedule: "karras"))
        #expect(a1111.sampler("k_euler_a")?.name == "Euler a" && a1111.sampler("euler A")?.name == "Euler a")
        #expect(a1111.schedulers?.first { $0.name == "sgm_uniform" }?.label == "SGM Uniform")
        #expect(a1111.loras.first == A1111LoRA(name: "fox_style", alias: "fox_style_v2",
                                               path: "/home/user/stable-diffusion-webui/models/Lora/fox_style.safetensors"))
        a1111.currentCheckpoint = "6ce0161689"
        #expect(a1111.current?.name == "v1-5-pruned-emaonly.safetensors [6ce0161689]")
        #expect(a1111.remoteCheckpoints.map(\.family) == [.sd1, .sdxl])
        a1111.version = "v1.10.1"
        #expect(a1111.serverName == "A1111 API (AUTOMATIC1111 v1.10.1)")
    }

    @Test func untrustedListsAndValuesNeverTrap() {
        let junk: [Any] = [1, "x", NSNull(), ["title": 5], ["title": ""], ["name": ["nested"]], ["title": "ok", "hash": 12, "model_name": true],
                           ["name": "s", "aliases": "notalist", "options": ["scheduler": 3]]]
        #expect(A1111Catalog.checkpoints(from: junk).map(\.title) == ["ok"])
        #expect(A1111Catalog.samplers(from: junk) == [A1111Sampler(name: "s")])
        #expect(A1111Catalog.loras(from: junk).map(\.name) == ["s"])
        for value: Any in [1e300, Double.nan, -1, true, "7", 1.5, NSNull()] {
            #expect(A1111JSON.seed(value) == nil, "\(value)")
        }
        #expect(A1111JSON.seed(NSNumber(value: UInt64.max)) == UInt64.max)
        #expect(A1111JSON.integer(3.0) == 3 && A1111JSON.integer(true) == nil && A1111JSON.integer(1e300) == nil)
        #expect(A1111Info("not json") == nil)
        #expect(A1111Info("{\"seed\": \"42\", \"all_seeds\": [1, \"2\", -3], \"infotexts\": [5, \"text\"], \"index_of_first_image\": 1e99}")
            .map { [$0.seed == nil, $0.allSeeds == [1], $0.infotexts == ["text"], $0.indexOfFirstImage == 0] } == [true, true, true, true])
        #expect(A1111Progress(["state": "idle"]) == nil)
        let odd = A1111Progress(["state": ["job_count": 1, "job_no": 0, "sampling_step": 1e99, "sampling_steps": 30], "current_image": 5])
        #expect(odd?.isSampling == true && odd?.step == 1 && odd?.currentImage == nil)
        let huge = A1111Progress(["state": ["job_count": Int.max, "job_no": Int.min, "sampling_step": Int.max, "sampling_steps": Int.max]])
        #expect(huge?.step == 1_000_000 && huge?.isSampling == true)
    }
}
