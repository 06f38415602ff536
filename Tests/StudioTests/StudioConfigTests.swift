import Foundation
import Testing
@testable import Studio

/// config.toml is read as TOML (TOMLKit), not line by line (issue 12, finding 7).
@Suite struct StudioConfigTests {
    @Test func valuesAreTOMLStrings() throws {
        let config = try StudioConfig(text: #"""
            # stipple settings
            output_dir = "/data/out#1"   # a '#' inside quotes is part of the value
            model = '/models/sd "v1"'
            theme = "l\u0069ght"
            """#)
        #expect(config.outputDirectory == "/data/out#1")
        #expect(config.model == #"/models/sd "v1""#)  // a literal string: its quotes are not kept
        #expect(config.theme == "light")
        #expect(config.warnings.isEmpty)
        #expect(try StudioConfig(text: #"model = 'C:\models\sd15'"#).model == #"C:\models\sd15"#)
        #expect(try StudioConfig(text: "model = \"\"\"\n/multi\"\"\"").model == "/multi")
    }

    @Test func weightTypeIsOneOfThePrecisions() throws {
        #expect(try StudioConfig(text: #"weight_type = "f16""#).weightType == .f16)
        #expect(try StudioConfig(text: #"weight_type = "bf16""#).weightType == .bf16)
        #expect(try StudioConfig(text: "").weightType == nil)
        let wrong = try StudioConfig(text: #"weight_type = "q8_0""#)
        #expect(wrong.weightType == nil)
        #expect(wrong.warnings == [#"weight_type must be f32, f16 or bf16, not "q8_0"; ignored"#])
        #expect(try StudioConfig(text: "weight_type = 16").warnings == ["weight_type must be a string (in quotes), not an integer; ignored"])
    }

    @Test func unknownKeysAndWrongTypesAreWarnings() throws {
        let config = try StudioConfig(text: """
            ouput_dir = "/tmp/x"
            model = 5
            theme = ""
            output_dir = "/kept"
            [studio]
            theme = "dark"
            """)
        #expect(config.outputDirectory == "/kept" && config.model == nil && config.theme == nil)
        #expect(Set(config.warnings) == [
            #"unknown key "ouput_dir" (known: backend, embeddings_dir, lora_dir, model, output_dir, styles_file, theme, vae_tiling, weight_type)"#,
            "model must be a string (in quotes), not an integer; ignored",
            "theme is empty; ignored",
            #"unknown key "studio" (known: backend, embeddings_dir, lora_dir, model, output_dir, styles_file, theme, vae_tiling, weight_type)"#,
        ])
        let lines = config.warningLines(path: "/etc/stipple.toml")
        #expect(lines.contains(#"stipple: warning: /etc/stipple.toml: unknown key "ouput_dir" (known: backend, embeddings_dir, lora_dir, model, output_dir, styles_file, theme, vae_tiling, weight_type)"#))
        // A key with control characters is shown escaped, never raw.
        let hostile = try StudioConfig(text: #""\u001b]0;x" = 1"#)
        #expect(hostile.warningLines(path: "c.toml") == [#"stipple: warning: c.toml: unknown key "\e]0;x" (known: backend, embeddings_dir, lora_dir, model, output_dir, styles_file, theme, vae_tiling, weight_type)"#])
    }

    /// The `[backend]` table: a server and how to reach it; secrets only by reference.
    @Test func backendTableNamesAServer() throws {
        let config = try StudioConfig(text: """
            model = "/models/local.safetensors"
            [backend]
            kind = "ComfyUI"
            url = "http://gpu-box:8188"
            checkpoint = "SDXL/juggernaut.safetensors"
            token_env = "COMFY_TOKEN"
            workflow = "~/flows/portrait_api.json"
            """)
        #expect(config.warnings.isEmpty)
        #expect(config.model == "/models/local.safetensors")
        var expected = BackendSettings(kind: .comfyui, url: "http://gpu-box:8188")
        expected.checkpoint = "SDXL/juggernaut.safetensors"
        expected.tokenEnv = "COMFY_TOKEN"
        expected.workflow = "~/flows/portrait_api.json"
        #expect(config.backend == expected)
        #expect(try StudioConfig(text: "").backend == BackendSettings())
        #expect(!BackendSettings().isRemote)

        let wrong = try StudioConfig(text: """
            backend = "comfyui"
            """)
        #expect(wrong.backend == BackendSettings())
        #expect(wrong.warnings == [#"backend must be a table ([backend] with kind = "comfyui" and url = "http://..."), not a string; ignored"#])
        let odd = try StudioConfig(text: """
            [backend]
            kind = "invokeai"
            password = "hunter2"
            user = 5
            url = "http://a1111:7860"
            """)
        #expect(odd.backend == BackendSettings(kind: .embedded, url: "http://a1111:7860"))
        #expect(Set(odd.warnings) == [
            #"backend.kind: kind must be "embedded", "comfyui", "a1111", not "invokeai"; ignored"#,
            #"unknown key backend."password" (known: checkpoint, kind, password_env, password_file, token_env, token_file, url, user, workflow)"#,
            "backend.user must be a non-empty string (in quotes); ignored",
        ])
        // A secret written where a reference belongs is never repeated in a warning.
        #expect(!odd.warnings.joined().contains("hunter2"))
    }

    @Test func vaeTilingIsAutoOnOrOff() throws {
        #expect(try StudioConfig(text: #"vae_tiling = "on""#).vaeTiling == .on)
        #expect(try StudioConfig(text: #"vae_tiling = "off""#).vaeTiling == .off)
        let bad = try StudioConfig(text: #"vae_tiling = "yes""#)
        #expect(bad.vaeTiling == nil)
        #expect(bad.warnings == [#"vae_tiling must be "auto", "on", "off", not "yes"; ignored"#])
        #expect(try StudioConfig(text: "").vaeTiling == nil)
    }

    @Test func syntaxErrorsNameTheLine() throws {
        let error = #expect(throws: StudioConfig.SyntaxError.self) {
            try StudioConfig(text: "model = \"/m\"\n\noutput_dir = /unquoted\n")
        }
        #expect(error?.line == 3)
        #expect(error.map { !$0.description.contains("\n") && $0.description.hasPrefix("line 3, column ") } == true)
        #expect(throws: StudioConfig.SyntaxError.self) { try StudioConfig(text: "model = \"a\"\nmodel = \"b\"") }
        let nul = #expect(throws: StudioConfig.SyntaxError.self) { try StudioConfig(text: "theme = \"dark\"\nmodel = \"/m\"\0junk = = =") }
        #expect(nul?.line == 2 && nul?.column == 13)
    }

    /// A table header whose key starts with anything but a bare-key character or a quote (`[é]`,
    /// `[.a]`) made toml++ (inside TOMLKit) abort the process on an assertion (exit 134; found by
    /// fuzz-config). It is a syntax error now; non-ASCII text inside strings and comments stays fine,
    /// and so do arrays of arrays.
    @Test func textTOMLKitWouldAbortOnIsASyntaxError() throws {
        for (text, line, column) in [("[é]\n", 1, 2), ("theme = \"dark\"\n[\u{FFFD}tudio]\nname = 1\n", 2, 2),
                                     ("ключ = \"x\"", 1, 1), ("a = 1 é", 1, 7), ("[.teoutstudio]\n", 1, 2),
                                     ("x = 1\n  [[ =a]]\n", 2, 6), ("model =[[[}]]]\n", 1, 11),
                                     ("a = [ 1, ,2 ]", 1, 9), ("a = [\n # c\n }", 1, 6), ("ll =0-!p-rp-n3 0#le000", 1, 5),
                                     ("l =0-pr-rp-n4 3 # t", 1, 4), ("x = [ 1, abc ]", 1, 10)] {
            let error = #expect(throws: StudioConfig.SyntaxError.self, "\(text)") { try StudioConfig(text: text) }
            #expect(error?.line == line && error?.column == column, "\(text): \(String(describing: error))")
        }
        let fine = try StudioConfig(text: """
            # réglages — ☃
            output_dir = "/données/images" # dossier
            model = '/modèles/x'
            theme = \"\"\"
            sombre\"\"\"
            "clé" = 'v'
            """)
        #expect(fine.outputDirectory == "/données/images" && fine.model == "/modèles/x")
        #expect(fine.theme == "sombre" && fine.warnings.count == 1)  // "clé", a quoted key, is unknown
        let arrays = try StudioConfig(text: "sizes = [\n  [ 1, 2 ],\n  [ -0.5 ]\n]\n[ 'quoted table' ]\nx = 1\n")
        #expect(arrays.warnings.count == 2)
        let scalars = try StudioConfig(text: """
            a.b-c = true
            n = [ +1_000, -3.5e-2, 0xDEAD_beef, 0o17, 0b101, inf, -nan ]
            d = [ 1979-05-27T07:32:00Z, 1979-05-27, 07:32:00.5, 1979-05-27T00:32:00-07:00 ]
            t = { x = 1, y = false }
            """)
        #expect(scalars.warnings.count == 4)
    }

    @Test func loadNamesTheFileAndLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("config.toml").path
        try Data("theme = \"light\"\nmodel = \"unterminated\n".utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StudioConfig.LoadError.self) { try StudioConfig.load(path: path) }
        #expect(error?.description.hasPrefix("\(path): line 2, column ") == true)
        try Data("theme = \"light\"\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try StudioConfig.load(path: path).theme == "light")
    }
}
