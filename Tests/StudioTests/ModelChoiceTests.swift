import Diffusion
import Foundation
import Imaging
import Terminal
import Testing
@testable import Studio

/// Choosing between models: the bundled models by name and through the Model field's Left/Right,
/// and each model's own settings (`stipple_defaults.json`) where the person has not chosen.
@Suite struct ModelChoiceTests {
    static func key(_ key: Key, _ state: inout StudioState) -> [StudioState.Effect] {
        StudioKeyMap.handle(key, state: &state, editorWidth: 40)
    }

    @Test func bundledModelsAreFoundByName() throws {
        let models = ModelLocator.bundledModels()
        let first = try #require(models.first)
        #expect(URL(fileURLWithPath: first).lastPathComponent == "shapes-64", "the default model first")
        #expect(models.allSatisfy { FileManager.default.fileExists(atPath: $0 + "/model_index.json") })
        #expect(ModelLocator.bundledModel(named: "shapes-64") == first)
        #expect(ModelLocator.bundledModel(named: "samples/shapes-64") == nil, "a path is a path")
        do {
            _ = try ModelLocator.load(path: "shapes-99")
            Issue.record("an unknown name loaded")
        } catch {
            #expect(error.description == "shapes-99: no such model file or folder (bundled models: "
                    + models.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", ") + ")")
        }
    }

    @Test func leftAndRightOnTheModelFieldLoadTheNextBundledModel() {
        var state = StudioState(modelName: "b", width: 64, height: 64)
        state.panel.modelChoices = ["/m/a", "/m/b", "/m/c"]
        state.panel.model = FewStepPreset.Model(name: "b", path: "/m/b")
        state.focus = .parameters
        state.panel.selected = .model
        #expect(Self.key(.right, &state) == [.loadModel("/m/c")])
        #expect(Self.key(.left, &state) == [.loadModel("/m/a")])
        state.panel.model = FewStepPreset.Model(name: "x", path: "/elsewhere/x.safetensors")
        #expect(Self.key(.right, &state) == [.loadModel("/m/a")], "from a model that is none of them: the first")
        state.panel.modelChoices = []
        #expect(Self.key(.right, &state).isEmpty && state.status.contains("type a model's path"))
    }

    /// Loading another model moves the fields still at the last model's settings to the new
    /// model's, and keeps what the person changed.
    @Test func aLoadedModelsSettingsReplaceOnlyUntouchedFields() {
        var panel = ParameterPanel(width: 64, height: 64)
        #expect(panel.steps == 20 && panel.cfgScale == 7)
        #expect(panel.setModelDefaults(ModelDefaults(steps: 20, cfgScale: 2)) == "CFG 2")
        panel.steps = 30  // the person's choice
        let lcm = ModelDefaults(steps: 4, cfgScale: 1.5, sampler: .lcm)
        #expect(panel.setModelDefaults(lcm) == "sampler lcm, CFG 1.5")
        #expect(panel.steps == 30 && panel.cfgScale == 1.5 && panel.sampler == .lcm)
        // Back to a model without a file: the general defaults where the fields were left.
        #expect(panel.setModelDefaults(nil) == "sampler default, CFG 7")
        // A flow model offers its own sampler and flow_euler only; a diffusion sampler the person
        // chose gives way to the model's own.
        panel.sampler = .dpmpp2M
        panel.flowModel = true
        #expect(panel.setModelDefaults(nil) == "sampler default")
        panel.selected = .sampler
        panel.adjust(by: 1)
        #expect(panel.sampler == .flowEuler)
        panel.adjust(by: 1)
        #expect(panel.sampler == .default)
    }

    /// `stipple generate`: the model folder's settings where no option is given; options win;
    /// a broken file is one line and nothing is written.
    @Test func generateUsesTheModelsSettingsUnlessOptionsAreGiven() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: StudioEndToEndTests.model, toPath: model.path)
        let file = model.appendingPathComponent("stipple_defaults.json")
        try Data(#"{"steps": 3, "cfg": 4.5, "sampler": "euler"}"#.utf8).write(to: file)
        let size = ["--model", model.path, "-W", "32", "-H", "32", "-p", "a fox", "--seed", "1"]

        let plain = try CommandLineTests.run(["generate"] + size + ["-o", "a.png"], in: folder)
        #expect(plain.status == 0, "\(plain.standardError)")
        let text = try PNG.read(path: folder.appendingPathComponent("a.png").path).text("parameters") ?? ""
        #expect(text.contains("Steps: 3, Sampler: Euler,") && text.contains("CFG scale: 4.5,"), "\(text)")

        let chosen = try CommandLineTests.run(["generate"] + size + ["--steps", "2", "--cfg-scale", "6", "-o", "b.png"], in: folder)
        #expect(chosen.status == 0, "\(chosen.standardError)")
        let mine = try PNG.read(path: folder.appendingPathComponent("b.png").path).text("parameters") ?? ""
        #expect(mine.contains("Steps: 2, Sampler: Euler,") && mine.contains("CFG scale: 6,"), "\(mine)")

        try Data(#"{"steps": 0}"#.utf8).write(to: file)
        let broken = try CommandLineTests.run(["generate"] + size + ["-o", "c.png"], in: folder)
        #expect(broken.status != 0)
        #expect(broken.standardError == "Error: \(file.path): invalid config: steps must be a whole number from 1 to 1000, not 0\n",
                "\(broken.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("c.png").path))
    }
}
