import Foundation
import Testing
@testable import Diffusion

/// A model folder's `stipple_defaults.json`: read by the command line's rules, refused in one line
/// naming the file and the key, and applied only to what a person left.
@Suite struct ModelDefaultsTests {
    static func parse(_ json: String) throws(CheckpointError) -> ModelDefaults {
        try ModelDefaults.parse(Data(json.utf8), path: "m/stipple_defaults.json")
    }

    @Test func readsEveryKey() throws {
        let defaults = try Self.parse(#"{"steps": 4, "cfg": 1.5, "sampler": "DPM++ 2M Karras"}"#)
        #expect(defaults == ModelDefaults(steps: 4, cfgScale: 1.5, sampler: .dpmpp2M, schedule: .karras))
        #expect(defaults.summary == "dpmpp_2m, karras schedule, 4 steps, CFG 1.5")
        #expect(try Self.parse(#"{"schedule": "exponential", "sampler": "euler"}"#) == ModelDefaults(sampler: .euler, schedule: .exponential))
        #expect(try Self.parse("{}").isEmpty)
    }

    @Test func refusesWhatTheCommandLineWouldRefuseInOneLine() {
        let cases: [(String, String)] = [
            (#"{"steps": 0}"#, "steps must be a whole number from 1 to 1000"),
            (#"{"steps": 2.5}"#, "steps must be a whole number from 1 to 1000, not 2.5"),
            (#"{"steps": 1e300}"#, "steps must be a whole number from 1 to 1000, not "),
            (#"{"steps": true}"#, "steps must be a number"),
            (#"{"steps": "4"}"#, "steps must be a number"),
            (#"{"cfg": 1e300}"#, "CFG scale must be a number from 0 to 100"),
            (#"{"sampler": "nope"}"#, "sampler: "),
            (#"{"schedule": "cosine"}"#, "schedule must be one of"),
            (#"{"guidance": 3}"#, #"unknown key "guidance""#),
            (#"[1, 2]"#, "not a JSON object"),
            ("", "not a JSON object"),
        ]
        for (json, message) in cases {
            do {
                _ = try Self.parse(json)
                Issue.record("\(json) was accepted")
            } catch {
                #expect(error.description.contains("m/stipple_defaults.json") && error.description.contains(message)
                        && !error.description.contains("\n"), "\(json): \(error.description)")
            }
        }
    }

    @Test func appliesOnlyToWhatWasNotChosen() throws {
        let defaults = ModelDefaults(steps: 4, cfgScale: 1.5, sampler: .lcm, schedule: .model)
        var request = GenerationRequest(prompt: "a")
        request.steps = 30
        defaults.apply(to: &request, except: [.steps])
        #expect(request.steps == 30 && request.cfgScale == 1.5 && request.sampler == .lcm)
    }

    /// The bundled model's file: the CFG its judge is best at (tools/judge_shapes.py; 7 pinches its squares).
    @Test func theBundledModelHasItsSettings() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let defaults = try #require(try ModelDefaults.load(modelPath: root.appendingPathComponent("samples/shapes-64").path))
        #expect(defaults.cfgScale == 2 && defaults.steps == 20)
        #expect(try ModelDefaults.load(modelPath: root.appendingPathComponent("Tests/DiffusionTests/Fixtures/pipelines/sd1").path) == nil)
    }
}
