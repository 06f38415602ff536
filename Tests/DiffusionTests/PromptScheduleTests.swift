import Foundation
import Testing
@testable import Diffusion

/// A1111's prompt editing, alternation and AND, against the schedules its own parser
/// (modules/prompt_parser.py with lark 1.1.2, as A1111 pins it) makes: Fixtures/prompts/schedules.json,
/// written by tools/make_prompt_schedule_fixtures.py. Where A1111's outcome depends on the process's
/// hash seed (lark settles ambiguous parses by set order) ours must be one of its outcomes.
@Suite struct PromptScheduleTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var prompt: String
            var steps: Int
            var kind: String
            var schedules: [[Entry]]?
            var error: String?
        }
        /// `[end_at_step, text]`.
        struct Entry: Decodable, Equatable {
            var end: Int
            var text: String
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                end = try container.decode(Int.self)
                text = try container.decode(String.self)
            }
            init(_ entry: PromptSchedule.Entry) { (end, text) = (entry.endAtStep, entry.text) }
        }
        struct Multicond: Decodable {
            var prompt: String
            var parts: [Part]
        }
        struct Part: Decodable {
            var text: String
            var weight: Double
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                text = try container.decode(String.self)
                weight = try container.decode(Double.self)
            }
        }
        var schedules: [Case]
        var multicond: [Multicond]
    }

    static let fixture: Fixture? = {
        let url = CheckpointFixtures.root.appendingPathComponent("prompts/schedules.json")
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(Fixture.self, from: data)
    }()

    @Test func fixtureIsPresent() {
        #expect((Self.fixture?.schedules.count ?? 0) == 687)
        #expect((Self.fixture?.multicond.count ?? 0) == 28)
    }

    /// Every case: the schedule A1111 makes (or one of them), or an error where A1111 fails.
    @Test func schedulesEqualA1111s() throws {
        let fixture = try #require(Self.fixture)
        var exact = 0
        for item in fixture.schedules {
            let label = "\(item.kind) \(item.prompt.debugDescription) at \(item.steps) steps"
            if let error = item.error {
                switch error {
                case "VisitError":  // an empty alternative reached: ours is a one-line error too
                    #expect(throws: PromptScheduleError.self, "\(label)") { try PromptSchedule(item.prompt, steps: item.steps) }
                case "OverflowError":  // `when` past Double's range: ours takes the step count
                    let schedule = try PromptSchedule(item.prompt, steps: item.steps)
                    #expect(schedule.entries.last?.endAtStep == item.steps, "\(label)")
                default:
                    Issue.record("\(label): unexpected A1111 error \(error)")
                }
                continue
            }
            let outcomes = item.schedules ?? []
            let ours = try PromptSchedule(item.prompt, steps: item.steps).entries.map(Fixture.Entry.init)
            #expect(outcomes.contains(ours), "\(label): ours \(ours.map { "\($0.end): \($0.text.debugDescription)" })")
            if outcomes.count == 1 { exact += 1 }
        }
        #expect(exact > 600)
    }

    @Test func andListsEqualA1111s() throws {
        let fixture = try #require(Self.fixture)
        for item in fixture.multicond {
            let ours = try ComposablePrompt(item.prompt).parts
            #expect(ours.map(\.text) == item.parts.map(\.text), "\(item.prompt.debugDescription)")
            #expect(ours.map(\.weight) == item.parts.map(\.weight), "\(item.prompt.debugDescription)")
        }
    }

    /// A1111's step convention: the i-th denoiser call (0-based) takes the first entry ending at
    /// or after i, so `[a:b:3]` is `a` for calls 0-3 and alternation's first option runs twice.
    @Test func stepIndexConvention() throws {
        let edit = try PromptSchedule("[a:b:3]", steps: 10)
        #expect((0..<10).map { edit.text(atStep: $0) } == ["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"])
        let alternation = try PromptSchedule("[a|b]", steps: 4)
        #expect((0..<4).map { alternation.text(atStep: $0) } == ["a", "a", "b", "a"])
        let zero = try PromptSchedule("[a:b:0]", steps: 4)
        #expect((0..<4).map { zero.text(atStep: $0) } == ["a", "b", "b", "b"])
        #expect(try PromptSchedule("plain prompt", steps: 20).isConstant)
    }

    @Test func unreadablePromptsSayWhy() throws {
        let bar = try PromptSchedule("a | b [c:2]", steps: 4)
        #expect(bar.entries == [PromptSchedule.Entry(endAtStep: 4, text: "a | b [c:2]")])
        #expect(bar.unparsedReason == "a '|' at character 3 is outside any [a|b] alternation")
        // Past 100 levels the outer brackets are text, which reads the same; the edit inside still applies.
        let (open, close) = (String(repeating: "(", count: 150), String(repeating: ")", count: 150))
        #expect(try PromptSchedule(open + "[a:b:2]" + close, steps: 4).entries
                == [.init(endAtStep: 2, text: open + "a" + close), .init(endAtStep: 4, text: open + "b" + close)])
        #expect(throws: PromptScheduleError.steps(0)) { try PromptSchedule("a", steps: 0) }
    }

    /// Hostile prompts: deep, long, unbalanced, huge numbers. Each gives a schedule or a one-line
    /// error, quickly (no quadratic scans, no unbounded recursion).
    @Test func hostilePromptsEndQuickly() throws {
        let long = String(repeating: "a ", count: 50_000)
        let prompts = [
            String(repeating: "[", count: 100_000), String(repeating: "(", count: 5_000) + String(repeating: ")", count: 5_000),
            String(repeating: "[a:", count: 20_000), String(repeating: "[a [b:2] ", count: 20_000), "a" + long + ":" + long,
            String(repeating: "a:", count: 50_000) + "1", long + ": 1.5" + long, String(repeating: " AND ", count: 20_000),
            "[a:b:" + String(repeating: "9", count: 400) + "]", "[a:b:-" + String(repeating: "9", count: 400) + "]",
            "[a:b:1e400]", "[a:b:-1e400]", "x:" + String(repeating: "9", count: 400), String(repeating: "[a|b]", count: 2_000),
        ]
        let clock = ContinuousClock()
        let start = clock.now
        for prompt in prompts {
            for steps in [1, 20, 1000] {
                _ = try? PromptSchedule(prompt, steps: steps)
            }
            _ = try? ComposablePrompt(prompt)
        }
        #expect(clock.now - start < .seconds(10))  // about 2 s here
        #expect(try PromptSchedule("[a:b:-1e400]", steps: 4).entries.first?.endAtStep == -1_000_000_000_000_000)
        #expect(throws: PromptScheduleError.weight("9" + String(repeating: "9", count: 399))) {
            try ComposablePrompt("x:" + String(repeating: "9", count: 400))
        }
        #expect(throws: PromptScheduleError.tooLarge(entries: 1000, characters: 20_000)) {
            try PromptSchedule("[a|b]" + String(repeating: "c", count: 19_995), steps: 1000)
        }
    }

    /// The engine: per-step conditioning against diffusers swapping prompt_embeds at A1111's steps
    /// (editing, alternation, a scheduled negative prompt) and a hand loop for AND weights
    /// (Fixtures/prompts/schedule_pipeline.safetensors, tools/make_prompt_schedule_fixtures.py pipeline).
    @Test(arguments: [
        ("edit-euler", "a red [house:boat:3] by the sea", "blurry, dark", SamplerName.euler, 8, 7.5, UInt64(11)),
        ("alternate-pndm", "a [red|blue] house by the sea", "blurry, dark", .default, 6, 7.5, 12),
        ("negative-edit-euler", "a red house by the sea", "[blurry:dark:0.5]", .euler, 6, 7.5, 13),
        ("and-euler", "a red house AND a boat at sea:0.6", "blurry, dark", .euler, 8, 5.0, 14),
        ("and-edit-euler", "a [red:blue:2] house AND the sea:-0.5", "[blurry::3]", .euler, 6, 7.5, 15),
    ])
    func pipelineMatchesDiffusers(_ name: String, _ prompt: String, _ negative: String, _ sampler: SamplerName,
                                  _ steps: Int, _ cfg: Double, _ seed: UInt64) throws {
        let folder = CheckpointFixtures.root.appendingPathComponent("prompts")
        var request = GenerationRequest(prompt: prompt)
        request.negativePrompt = negative
        (request.sampler, request.seed, request.steps, request.cfgScale) = (sampler, seed, steps, cfg)
        (request.width, request.height, request.preview) = (32, 32, .off)
        let model = try PipelineTests.models.model("sd1")
        let image = try #require(try Pipeline(model: model).run(request).first)
        let latents = try SafetensorsFile(path: folder.appendingPathComponent("schedule_pipeline.safetensors").path).tensor(name)
        try PipelineTests.expectParity(image, png: folder.appendingPathComponent("schedule-\(name).png"), latents: latents,
                                       label: name)
        // The schedule matters: the first step's texts alone make another image.
        let firstTexts = try ComposablePrompt(prompt).parts.map { part in
            try PromptSchedule(part.text, steps: steps).text(atStep: 0)
        }
        var plain = request
        plain.prompt = firstTexts.joined(separator: " AND ")
        plain.negativePrompt = try PromptSchedule(negative, steps: steps).text(atStep: 0)
        if firstTexts.count > 1 { plain.cfgScale = cfg }  // AND stays AND (weights aside)
        let other = try #require(try Pipeline(model: model).run(plain).first)
        let latentsDiffer = try other.engineLatents.storage != image.engineLatents.storage
        #expect(other.image.rgb != image.image.rgb || latentsDiffer, "\(name)")
        // The parameters keep the prompt as written.
        #expect(image.request.prompt == prompt && image.request.negativePrompt == negative)
    }

    /// A prompt without editing or AND takes the plain path: the same numbers as before, one
    /// batch of two per step.
    @Test func plainPromptsTakeThePlainPath() throws {
        #expect(try !PromptScheduleConditioning.isNeeded(prompt: "a (red:1.2) house, BREAK sea", negative: "blurry [dark]", steps: 20))
        #expect(try PromptScheduleConditioning.isNeeded(prompt: "a house", negative: "[blurry:dark:5]", steps: 20))
        #expect(try !PromptScheduleConditioning.isNeeded(prompt: "a house", negative: nil, steps: 20))
        #expect(try PromptScheduleConditioning.isNeeded(prompt: "a house AND a boat", negative: nil, steps: 20))
        #expect(PromptScheduleConditioning.isComposable("a house:1.5"))
        #expect(!PromptScheduleConditioning.isComposable("a house"))
    }
}
