import Testing
@testable import Diffusion

@Suite struct InfotextTests {
    /// A parameters chunk exactly as AUTOMATIC1111 1.10 writes it.
    static let a1111 = """
        masterpiece, a red fox in the snow, (detailed fur:1.2)
        sunset
        Negative prompt: blurry, lowres
        Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 965400086, Size: 512x768, Model hash: 45dee52b, Model: v1-5-pruned-emaonly, Denoising strength: 0.6, Clip skip: 2, Lora hashes: "fox: a1b2c3, snow: d4e5f6", Version: v1.10.1
        """

    @Test func parsesA1111Text() {
        let info = Infotext(parsing: Self.a1111)
        #expect(info.prompt == "masterpiece, a red fox in the snow, (detailed fur:1.2)\nsunset")
        #expect(info.negativePrompt == "blurry, lowres")
        #expect(info["Steps"] == "20")
        #expect(info["Sampler"] == "DPM++ 2M")
        #expect(info["Schedule type"] == "Karras")
        #expect(info["Seed"] == "965400086")
        #expect(info["Lora hashes"] == "fox: a1b2c3, snow: d4e5f6")
        #expect(info["Version"] == "v1.10.1")
        #expect(info.size! == (512, 768))
        #expect(info.fields.count == 12)
    }

    @Test func writesWhatItParses() {
        let info = Infotext(parsing: Self.a1111)
        #expect(info.text == Self.a1111)
        #expect(Infotext(parsing: info.text) == info)
    }

    @Test func quotesValuesWithCommasColonsAndNewlines() {
        var info = Infotext(prompt: "a cat", fields: [("Steps", "20"), ("Sampler", "Euler a"), ("Seed", "1")])
        info["Note"] = "line one\nline: two, \"quoted\""
        #expect(info.text == "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Note: \"line one\\nline: two, \\\"quoted\\\"\"")
        #expect(Infotext(parsing: info.text) == info)
    }

    @Test func withoutAFieldLineEverythingIsPrompt() {
        let info = Infotext(parsing: "just a prompt: with a colon\nand a second line")
        #expect(info.prompt == "just a prompt: with a colon\nand a second line")
        #expect(info.fields.isEmpty)
        #expect(!Infotext(prompt: "p").text.contains("Negative prompt"))
    }

    @Test func editingFields() {
        var info = Infotext(prompt: "p", fields: [("Steps", "20"), ("Seed", "5")])
        info["Seed"] = "6"
        info["Steps"] = nil
        info["Size"] = "64x64"
        #expect(info.fields.map(\.key) == ["Seed", "Size"])
        #expect(info["Seed"] == "6")
    }
}
