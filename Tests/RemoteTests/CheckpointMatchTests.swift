import Testing
@testable import Remote

/// A typed checkpoint name finds the server's, as a person would expect.
@Suite struct CheckpointMatchTests {
    static let comfy = ["sd15-fp16-ldm.safetensors", "SDXL/juggernautXL_v9.safetensors", "SDXL/juggernautXL_v8.safetensors",
                        "dreamshaper_8.ckpt"]
    static let a1111 = ["v1-5-pruned-emaonly.safetensors [6ce0161689]", "sd_xl_base_1.0.safetensors [31e35c80fc]"]

    @Test func exactThenFormsThenAUniquePart() throws {
        #expect(try CheckpointMatch.find("dreamshaper_8.ckpt", in: Self.comfy, server: "s") == "dreamshaper_8.ckpt")
        #expect(try CheckpointMatch.find("DreamShaper_8", in: Self.comfy, server: "s") == "dreamshaper_8.ckpt")
        #expect(try CheckpointMatch.find("juggernautXL_v9", in: Self.comfy, server: "s") == "SDXL/juggernautXL_v9.safetensors")
        #expect(try CheckpointMatch.find("sd15", in: Self.comfy, server: "s") == "sd15-fp16-ldm.safetensors")
        #expect(try CheckpointMatch.find("v1-5-pruned-emaonly", in: Self.a1111, server: "s") == Self.a1111[0])
        #expect(try CheckpointMatch.find("sd_xl_base_1.0.safetensors", in: Self.a1111, server: "s") == Self.a1111[1])
    }

    @Test func ambiguousAndUnknownNamesSayWhatThereIs() {
        #expect(throws: CheckpointMatch.Failure.self) { try CheckpointMatch.find("juggernaut", in: Self.comfy, server: "s") }
        do {
            _ = try CheckpointMatch.find("juggernaut", in: Self.comfy, server: "ComfyUI at http://gpu:8188")
        } catch {
            #expect(error.description == #""juggernaut" names 2 checkpoints on ComfyUI at http://gpu:8188: "SDXL/juggernautXL_v9.safetensors", "SDXL/juggernautXL_v8.safetensors"; type more of the name"#)
        }
        do {
            _ = try CheckpointMatch.find("flux", in: Self.comfy, server: "ComfyUI at http://gpu:8188")
        } catch {
            #expect(error.description.hasPrefix(#"ComfyUI at http://gpu:8188 has no checkpoint "flux" (it has "sd15-fp16-ldm.safetensors""#))
        }
        do {
            _ = try CheckpointMatch.find("x", in: [], server: "s")
        } catch {
            #expect(error.description == #"s has no checkpoint "x" (it lists none)"#)
        }
    }
}
