import Diffusion
import Foundation
import Testing
@testable import Remote

/// The recorded frames of real ComfyUI jobs, fed to the job state machine: the events the studio
/// gets, in order.
@Suite struct ComfyUIJobTests {
    /// A compact trace of events: `started 0`, `step 1/4 512x512`, `decoding 0`, ...
    static func trace(_ events: [GenerationEvent]) -> [String] {
        events.map { event in
            switch event {
            case .started(let start): "started \(start.imageIndex) seed \(start.seed) steps \(start.steps)"
            case .step(let step): "step \(step.imageIndex):\(step.step)/\(step.total)" + (step.preview.map { " \($0.width)x\($0.height)" } ?? "")
            case .decoding(let index): "decoding \(index)"
            case .image(let image): "image \(image.imageIndex)"
            case .finished: "finished"
            case .warning(let text): "warning \(text)"
            case .failed(let text): "failed \(text)"
            case .cancelled: "cancelled"
            }
        }
    }

    static func run(_ file: String, seeds: [UInt64], steps: Int, previews: Bool) throws -> (events: [GenerationEvent], set: ComfyUIJobSet) {
        let fixture = try ComfyUIFixture.load(file)
        let ids = fixture.promptIDs
        #expect(ids.count == seeds.count)
        var set = ComfyUIJobSet(zip(ids, seeds).enumerated().map { i, pair in
            ComfyUIJob(promptID: pair.0, imageIndex: i, imageCount: ids.count, seed: pair.1, steps: steps,
                       decodeNodes: ["8"], expectsPreviews: previews)
        })
        var events: [GenerationEvent] = []
        for (i, message) in try fixture.messages().enumerated() {
            events += set.handle(message, now: Double(i))
        }
        return (events, set)
    }

    @Test func txt2imgGivesStartedStepsWithPreviewsAndDecoding() throws {
        let (events, set) = try Self.run("txt2img.json", seeds: [42], steps: 4, previews: true)
        #expect(Self.trace(events) == [
            "started 0 seed 42 steps 4",
            "step 0:1/4 512x512", "step 0:2/4 512x512", "step 0:3/4 512x512", "step 0:4/4 512x512",
            "decoding 0",
        ])
        #expect(set.jobs.first?.outcome == .succeeded)
        #expect(set.jobs.first?.executedFiles == [ComfyUIFile(filename: "stipple_00001_.png", subfolder: "", type: "output")])
        // The rate comes from the clock: one unit a frame here.
        let steps = events.compactMap { if case .step(let step) = $0 { step } else { nil } }
        #expect(steps.last.map { $0.elapsed > 0 && $0.stepsPerSecond > 0 } == true)
    }

    @Test func previewPixelsAreTheJPEGsDecoded() throws {
        let (events, _) = try Self.run("txt2img.json", seeds: [42], steps: 4, previews: true)
        let preview = try #require(events.compactMap { if case .step(let step) = $0 { step.preview } else { nil } }.first)
        #expect(preview.rgb.count == 512 * 512 * 3)
        // Not a blank: the latent2rgb of noise varies.
        #expect(Set(preview.rgb).count > 16)
    }

    @Test func withoutPreviewsStepsComeAtOnce() throws {
        let (events, set) = try Self.run("txt2img_no_preview.json", seeds: [43], steps: 4, previews: false)
        #expect(Self.trace(events) == ["started 0 seed 43 steps 4", "step 0:1/4", "step 0:2/4", "step 0:3/4", "step 0:4/4", "decoding 0"])
        #expect(set.jobs.first?.outcome == .succeeded)
    }

    @Test func twoPromptsOnOneSocketReportInTurn() throws {
        let (events, set) = try Self.run("txt2img_ancestral_batch.json", seeds: [44, 45], steps: 4, previews: true)
        #expect(Self.trace(events) == [
            "started 0 seed 44 steps 4", "step 0:1/4 64x64", "step 0:2/4 64x64", "step 0:3/4 64x64", "step 0:4/4 64x64", "decoding 0",
            "started 1 seed 45 steps 4", "step 1:1/4 64x64", "step 1:2/4 64x64", "step 1:3/4 64x64", "step 1:4/4 64x64", "decoding 1",
        ])
        #expect(set.jobs.map(\.outcome) == [.succeeded, .succeeded])
    }

    @Test func interruptedJobEndsInterrupted() throws {
        let (events, set) = try Self.run("interrupt.json", seeds: [48], steps: 20, previews: true)
        #expect(Self.trace(events) == ["started 0 seed 48 steps 20", "step 0:1/20 64x64", "step 0:2/20 64x64"])
        #expect(set.jobs.first?.outcome == .interrupted)
    }

    @Test func executionErrorFailsNamingTheNode() throws {
        let (events, set) = try Self.run("execution_error.json", seeds: [50], steps: 4, previews: true)
        #expect(Self.trace(events) == ["started 0 seed 50 steps 4"])
        #expect(set.jobs.first?.outcome == .failed("LoraLoader failed: Error while deserializing header: header too large"))
    }

    @Test func otherClientsPromptsAreIgnored() throws {
        var set = ComfyUIJobSet([ComfyUIJob(promptID: "mine", imageIndex: 0, imageCount: 1, seed: 1, steps: 2, decodeNodes: ["8"],
                                            expectsPreviews: false)])
        #expect(set.handle(.executionStart(promptID: "theirs"), now: 0).isEmpty)
        #expect(set.handle(.progress(promptID: "theirs", node: "3", value: 1, max: 2), now: 0).isEmpty)
        #expect(set.handle(.preview(.init(format: .jpeg, bytes: [1], promptID: nil)), now: 0).isEmpty)
        #expect(set.handle(.executionSuccess(promptID: "theirs"), now: 0).isEmpty)
        #expect(set.jobs[0].outcome == nil)
        // Nonsense progress from our prompt reports nothing beyond its start.
        #expect(Self.trace(set.handle(.progress(promptID: "mine", node: "3", value: 9, max: 2), now: 0)) == ["started 0 seed 1 steps 2"])
        #expect(set.handle(.progress(promptID: "mine", node: "3", value: -1, max: 0), now: 0).isEmpty)
    }

    @Test func finishedFromHistoryStillStarts() {
        var set = ComfyUIJobSet([ComfyUIJob(promptID: "p", imageIndex: 0, imageCount: 1, seed: 1, steps: 2, decodeNodes: [],
                                            expectsPreviews: true)])
        #expect(Self.trace(set.finish(0, .succeeded)) == ["started 0 seed 1 steps 2"])
        #expect(set.jobs[0].outcome == .succeeded)
        #expect(set.finish(0, .interrupted).isEmpty && set.jobs[0].outcome == .succeeded)
    }
}
