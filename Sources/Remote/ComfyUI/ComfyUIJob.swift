import Diffusion
import Foundation
import Imaging
import Terminal

/// One image's prompt on a ComfyUI server, followed frame by frame: turns the server's
/// WebSocket messages for `promptID` into the `GenerationEvent`s the studio knows. Pure (no
/// I/O): the backend feeds it messages and the time, and sends what it returns to the observer.
///
///     execution_start -> .started        progress (+ its preview frame) -> .step
///     executing VAEDecode -> .decoding   execution_success -> done (the backend fetches /history)
///     execution_error -> .failed         execution_interrupted -> .cancelled
public struct ComfyUIJob: Sendable {
    /// How the prompt ended, once it has.
    public enum Outcome: Sendable, Equatable {
        case succeeded
        /// One line: the node type and the first line of the server's message.
        case failed(String)
        case interrupted
    }

    public let promptID: String
    public let imageIndex: Int
    public let imageCount: Int
    public let seed: UInt64
    /// Steps the request asked for (ComfyUI's progress counts to this for img2img too).
    public let steps: Int
    /// VAE decode node ids (`.decoding` when one starts).
    public let decodeNodes: Set<String>
    /// Whether previews were asked for: a `progress` is then held until its preview frame.
    public let expectsPreviews: Bool

    public private(set) var started = false
    public private(set) var outcome: Outcome?
    /// The files `executed` named (the backend trusts /history first).
    public private(set) var executedFiles: [ComfyUIFile] = []
    /// When sampling began on the job's clock (the first sampler progress or `executing` of it).
    private var samplingStart: Double?
    private var pendingStep: (step: Int, total: Int, at: Double)?
    private var decodingReported = false

    /// The longest failure text kept from the server.
    static let maximumMessageLength = 200
    /// The largest preview decoded: ComfyUI scales previews to `--preview-size` (512 by default).
    static let previewMaxSide = 2048
    static let previewMaxPixels = 4 << 20

    public init(promptID: String, imageIndex: Int, imageCount: Int, seed: UInt64, steps: Int,
                decodeNodes: Set<String>, expectsPreviews: Bool) {
        (self.promptID, self.imageIndex, self.imageCount, self.seed) = (promptID, imageIndex, imageCount, seed)
        (self.steps, self.decodeNodes, self.expectsPreviews) = (steps, decodeNodes, expectsPreviews)
    }

    public var isDone: Bool { outcome != nil }

    /// The events `message` (already known to be this prompt's) means at time `now` (seconds on
    /// any monotonic clock). Previews decode here: at most one decode per frame.
    public mutating func handle(_ message: ComfyUIMessage, now: Double) -> [GenerationEvent] {
        guard outcome == nil else { return [] }
        var events: [GenerationEvent] = []
        if case .preview(let preview) = message {
            guard let pending = pendingStep else { return [] }  // a stray preview: nothing to attach it to
            pendingStep = nil
            return [step(pending, preview: Self.decode(preview))]
        }
        if let pending = pendingStep {  // its preview did not come: report the step without one
            pendingStep = nil
            events.append(step(pending, preview: nil))
        }
        switch message {
        case .executionStart:
            events += start()
        case .executing(_, let node?):
            if !decodeNodes.contains(node) { break }
            events += start()
            if !decodingReported {
                decodingReported = true
                events.append(.decoding(imageIndex: imageIndex))
            }
        case .executing(_, nil):
            // The end marker; the outcome came (or, after a reconnect, comes from /history).
            break
        case .progress(_, _, let value, let max):
            events += start()
            guard value >= 1, max >= 1, value <= max else { break }
            if samplingStart == nil { samplingStart = now }
            let step = (step: value, total: max, at: now)
            if expectsPreviews { pendingStep = step } else { events.append(self.step(step, preview: nil)) }
        case .executed(_, _, let images):
            executedFiles += images
        case .executionSuccess:
            outcome = .succeeded
        case .executionError(_, _, let nodeType, let message):
            outcome = .failed(Self.failureLine(nodeType: nodeType, message: message))
        case .executionInterrupted:
            outcome = .interrupted
        case .status, .executionCached, .preview, .other:
            break
        }
        return events
    }

    /// `.started` once, before anything else of this image.
    mutating func start() -> [GenerationEvent] {
        guard !started else { return [] }
        started = true
        return [.started(ImageStart(imageIndex: imageIndex, imageCount: imageCount, seed: seed, steps: steps))]
    }

    /// Any step still waiting for its preview (at the end of the prompt).
    public mutating func flush() -> [GenerationEvent] {
        guard let pending = pendingStep else { return [] }
        pendingStep = nil
        return [step(pending, preview: nil)]
    }

    /// The prompt ended without its messages (a dropped socket): what /history said.
    public mutating func finish(_ outcome: Outcome) -> [GenerationEvent] {
        var events = flush()
        if self.outcome == nil {
            if outcome == .succeeded { events = start() + events }
            self.outcome = outcome
        }
        return events
    }

    private func step(_ step: (step: Int, total: Int, at: Double), preview: PixelImage?) -> GenerationEvent {
        let elapsed = max(0, step.at - (samplingStart ?? step.at))
        // The first step's time is not measured (sampling started at its report), so the rate
        // counts the steps after it.
        let rate = elapsed > 0 && step.step > 1 ? Double(step.step - 1) / elapsed : 0
        return .step(StepProgress(imageIndex: imageIndex, imageCount: imageCount, step: step.step, total: step.total,
                                  timestep: 0, elapsed: elapsed, stepsPerSecond: rate, preview: preview))
    }

    /// A preview frame's pixels; nil when it does not decode within the bounds.
    static func decode(_ preview: ComfyUIMessage.Preview) -> PixelImage? {
        let image: RGBImage
        switch preview.format {
        case .jpeg:
            guard let decoded = try? JPEG.decode(preview.bytes, maxSide: previewMaxSide, maxPixels: previewMaxPixels) else { return nil }
            image = decoded
        case .png:
            guard let file = try? PNG.decode(preview.bytes), file.image.width <= previewMaxSide, file.image.height <= previewMaxSide else {
                return nil
            }
            image = file.image
        }
        return pixels(image)
    }

    /// An RGB(A) image as engine pixels (alpha over black).
    static func pixels(_ image: RGBImage) -> PixelImage {
        let opaque = image.flattened()
        return PixelImage(width: opaque.width, height: opaque.height, rgb: opaque.pixels)
    }

    /// `LoraLoader: Error while deserializing header: header too large`: the node type and the
    /// first non-empty line of the server's message, safe for a terminal and bounded; never the
    /// traceback (it names the server's paths).
    public static func failureLine(nodeType: String?, message: String) -> String {
        let first = message.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
        var line = TerminalText.visible(first ?? "no message")
        if line.count > maximumMessageLength { line = String(line.prefix(maximumMessageLength - 3)) + "..." }
        let node = nodeType.map { ComfyUIMessage.visible($0) + " failed: " } ?? ""
        return node + line
    }
}

/// The prompts of one submitted request (one per image), fed every frame of the socket: frames
/// go to their prompt by `prompt_id`; a preview frame without one (event 1) belongs to the
/// prompt of the `progress` before it. Pure.
public struct ComfyUIJobSet: Sendable {
    public private(set) var jobs: [ComfyUIJob]
    private var lastProgressPrompt: String?

    public init(_ jobs: [ComfyUIJob]) {
        self.jobs = jobs
    }

    /// The job index for a prompt id.
    public func index(of promptID: String) -> Int? {
        jobs.firstIndex { $0.promptID == promptID }
    }

    /// The events `message` means; frames for other clients' prompts are ignored.
    public mutating func handle(_ message: ComfyUIMessage, now: Double) -> [GenerationEvent] {
        let target: String?
        switch message {
        case .status, .other: return []
        case .executionStart(let id), .executionCached(let id, _), .executed(let id, _, _), .executionSuccess(let id),
             .executionError(let id, _, _, _), .executionInterrupted(let id, _):
            target = id
        case .executing(let id, _):
            // A reconnected socket's first `executing` has no prompt id: the running prompt's.
            target = id ?? jobs.first { $0.started && !$0.isDone }?.promptID
        case .progress(let id, _, _, _):
            target = id ?? jobs.first { $0.started && !$0.isDone }?.promptID
            lastProgressPrompt = target
        case .preview(let preview):
            target = preview.promptID ?? lastProgressPrompt
        }
        guard let target, let i = index(of: target) else { return [] }
        return jobs[i].handle(message, now: now)
    }

    /// Ends job `i` from what /history said.
    public mutating func finish(_ i: Int, _ outcome: ComfyUIJob.Outcome) -> [GenerationEvent] {
        guard jobs.indices.contains(i) else { return [] }
        return jobs[i].finish(outcome)
    }

    public mutating func flush(_ i: Int) -> [GenerationEvent] {
        guard jobs.indices.contains(i) else { return [] }
        return jobs[i].flush()
    }
}
