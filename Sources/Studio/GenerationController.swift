import Diffusion
import Foundation

/// The submitted generations as the screen and the keys see them. Only `GenerationController`
/// makes these (from its own list of jobs); `StudioState.jobs` holds the latest.
public struct JobStatus: Sendable {
    /// A job was submitted and has not ended (from the moment Enter submitted it: Esc and pause act
    /// before its first step).
    public let running: Bool
    /// The running job is held between steps.
    public let paused: Bool
    /// Jobs submitted behind another that have not begun yet.
    public let queued: Int
    /// The running job's last step (nil before its first and after it ended).
    public let progress: StepProgress?

    public init(running: Bool = false, paused: Bool = false, queued: Int = 0, progress: StepProgress? = nil) {
        (self.running, self.paused, self.queued, self.progress) = (running, paused, queued, progress)
    }
}

/// The one owner of the studio's generations (docs/STUDIO.md): submits them (validation, the
/// init image, the output folder's check), cancels, pauses and single-steps the running one, turns
/// the engine's events into state (timeline, progress, status), saves finished images and adds
/// them to the gallery, and switches models. Background work reaches it through `inbox`, which
/// the main loop (or a test) drains into `handle`; it never touches the terminal.
public final class GenerationController {
    /// A submitted job: what it asks, the model (and hash) it runs on, which its images are saved
    /// with even if another model was loaded since, and its control.
    struct Job {
        let request: GenerationRequest
        let use: ModelUse
        let control: GenerationControl
        /// Submitted while another job was running: it counts as queued until it begins.
        let queuedBehind: Bool
        var started = false
    }

    /// The model the next generations use, and its hash.
    public private(set) var model: ModelUse
    public let outputFolder: URL
    public let inbox: EventInbox
    /// Where the jobs run: the embedded engine unless told otherwise.
    public let backend: any GenerationBackend
    /// Turns what a person typed into the Model field into a model to use (off the UI thread):
    /// a local path loaded by the embedded engine, or a server's checkpoint found by name.
    private let modelResolver: @Sendable (String) throws -> ModelTarget
    /// The server checkpoint asked for (`--model`, `[backend]`'s `checkpoint`) while the server did
    /// not answer: found once it does (nil: the server's own).
    public var wantedCheckpoint: String?
    /// Submitted jobs not ended yet, oldest (the running one) first.
    var jobs: [Job] = []
    private var paused = false
    private var progress: StepProgress?
    /// The forward view's and the grid's background work (GenerationController+Views).
    var views = ViewWork()

    public init(target: ModelTarget, outputFolder: URL, inbox: EventInbox = EventInbox(),
                backend: any GenerationBackend = GenerationQueue(),
                modelResolver: @escaping @Sendable (String) throws -> ModelTarget = { .embedded(try ModelLocator.load(path: $0)) }) {
        self.backend = backend
        self.model = ModelUse(target: target)
        self.outputFolder = outputFolder
        self.inbox = inbox
        self.modelResolver = modelResolver
    }

    /// The embedded engine on `model`.
    public convenience init(model: StableDiffusionModel, outputFolder: URL, inbox: EventInbox = EventInbox()) {
        self.init(target: .embedded(model), outputFolder: outputFolder, inbox: inbox)
    }

    /// The jobs, as `StudioState.jobs` shows them.
    public var status: JobStatus {
        JobStatus(running: !jobs.isEmpty, paused: paused, queued: jobs.filter { $0.queuedBehind && !$0.started }.count,
                  progress: progress)
    }

    /// Carries out the effects that concern jobs and models; false for any other effect.
    @discardableResult
    public func perform(_ effect: StudioState.Effect, state: inout StudioState) -> Bool {
        switch effect {
        case .generate(let request): submit(request, state: &state)
        case .cancel: cancel(state: &state)
        case .pause: pause(state: &state)
        case .resume: resume(state: &state)
        case .stepOnce: jobs.first?.control.stepOnce()
        case .loadModel(let path): loadModel(path: path, state: &state)
        case .openForward(let image, let source): openForward(image, source: source, state: &state)
        case .openForwardFile(let path): openForward(file: path, state: &state)
        case .forwardAt(let t): decodeForward(at: t)
        case .runGrid(let plan, let base): runGrid(plan, base: base, state: &state)
        case .cancelGrid: views.gridControl?.cancel()
        case .save, .quit, .exportTimeline, .showGalleryEntry, .nextTheme: return false
        }
        state.jobs = status
        return true
    }

    /// Validates `request` on the current model (with the init image the panel names), checks the
    /// output folder can take its images, and queues it; a problem goes to the status line.
    public func submit(_ request: GenerationRequest, state: inout StudioState) {
        var request = request
        let model = self.model.target
        // Both latents for the timeline's toggle, unless that means a second large VAE decode.
        request.previewBothLatents = model.embedded != nil
            && (request.preview == .approx || request.preview == .taesd || model.nativeSize <= 128)
        let path = state.panel.initImage.trimmingCharacters(in: .whitespaces)
        if case .remote(let checkpoint) = model, checkpoint.name.isEmpty {
            state.setStatus("\(backend.capabilities.name) has not answered yet, so its checkpoints are unknown: "
                            + "type one into Model, or wait for the server", .error)
            return
        }
        do {
            if !path.isEmpty {
                let size = request.size(for: model)
                request.initImage = try InitImage.load(path: path, width: size.width, height: size.height)
            }
            try request.validate(for: model)
            // The output folder must take the images before any work starts.
            let size = request.size(for: model)
            try OutputFolder(url: outputFolder).checkWritable(
                bytes: OutputFolder.imageBytes(width: size.width, height: size.height, count: request.batchCount))
        } catch {
            state.setStatus("\(error)", .error)
            return
        }
        let inbox = inbox
        let control = backend.submit(request, target: model) { event in inbox.post(.engine(event)) }
        jobs.append(Job(request: request, use: self.model, control: control, queuedBehind: !jobs.isEmpty))
        let queued = status.queued
        state.setStatus(jobs.count > 1 ? "Queued (\(queued) waiting)."
                        : request.seed.map { "Generating, seed \($0)..." } ?? "Generating...")
    }

    /// Cancels the running job (the queued ones stay).
    public func cancel(state: inout StudioState) {
        jobs.first?.control.cancel()
        state.setStatus("Cancelling...")
    }

    public func pause(state: inout StudioState) {
        guard let job = jobs.first else { return }
        guard backend.capabilities.canPause else {
            state.setStatus("\(backend.capabilities.name) runs a job through: pausing and single steps are the embedded engine's; "
                            + "Esc cancels", .warning)
            return
        }
        job.control.pause()
        paused = true
        state.setStatus("Paused. ^N one step, ^P resume.")
    }

    public func resume(state: inout StudioState) {
        guard let job = jobs.first else { return }
        job.control.resume()
        paused = false
        state.setStatus("Resumed.")
    }

    /// Cancels every job (the studio is closing). A server's jobs are stopped on the server too,
    /// which takes a request or two: for those it waits up to `seconds` for the jobs to end, so
    /// the server does not go on working for a studio that has gone.
    public func cancelAll(waitingUpTo seconds: Double = 0) {
        for job in jobs { job.control.cancel() }
        guard !backend.capabilities.canPause, seconds > 0 else { return }
        var open = jobs.count
        let deadline = Date().addingTimeInterval(seconds)
        while open > 0, deadline.timeIntervalSinceNow > 0, inbox.wait(seconds: deadline.timeIntervalSinceNow) {
            for case .engine(let event) in inbox.drain() {
                switch event {
                case .finished, .failed, .cancelled: open -= 1
                default: break
                }
            }
        }
    }

    /// Loads the model at `path` (a server's checkpoint by name, on a remote backend) on a
    /// background queue; `.modelLoaded` or `.modelFailed` follows through the inbox.
    public func loadModel(path: String, state: inout StudioState) {
        state.setStatus(backend.capabilities.canPause ? "Loading \(path)..."
                        : path.isEmpty ? "Asking \(backend.capabilities.name) for its checkpoint..."
                        : "Looking for \(path) on \(backend.capabilities.name)...")
        let (inbox, resolve) = (inbox, modelResolver)
        DispatchQueue.global(qos: .userInitiated).async {
            let start = Date()
            do {
                let loaded = try resolve(path)
                inbox.post(.modelLoaded(loaded, seconds: Date().timeIntervalSince(start)))
            } catch {
                inbox.post(.modelFailed("\(error)"))
            }
        }
    }

    /// Handles every event waiting in the inbox; whether there was one.
    @discardableResult
    public func drainEvents(into state: inout StudioState) -> Bool {
        let events = inbox.drain()
        for event in events { handle(event, state: &state) }
        return !events.isEmpty
    }

    public func handle(_ event: EventInbox.Event, state: inout StudioState) {
        switch event {
        case .engine(let engineEvent): handle(engineEvent, state: &state)
        case .modelLoaded(let loaded, let seconds): useModel(loaded, seconds: seconds, state: &state)
        case .modelFailed(let message): state.setStatus(message, .error)
        case .view(let event): handle(event, state: &state)
        case .backend(let message, let isError):
            state.setStatus(message, isError ? .error : .success)
            // The server answered at last: find its checkpoint if none is known yet.
            if !isError, case .remote(let checkpoint) = model.target, checkpoint.name.isEmpty {
                loadModel(path: wantedCheckpoint ?? "", state: &state)
            }
        }
        state.jobs = status
    }

    /// A model loaded from the panel (or a server's checkpoint chosen): the next generations use
    /// it (a running one finishes on the old one); the size follows its native size.
    func useModel(_ loaded: ModelTarget, seconds: Double, state: inout StudioState) {
        // A server's checkpoint found once the server answered: the size set so far stays.
        let wasUnknown = if case .remote(let checkpoint) = model.target { checkpoint.name.isEmpty } else { false }
        let size = (state.panel.width, state.panel.height)
        model = ModelUse(target: loaded)
        var notes = state.panel.setModel(loaded).map { [$0] } ?? []
        if wasUnknown { (state.panel.width, state.panel.height) = size }
        let what: String
        var kind = StudioState.StatusKind.success
        switch loaded {
        case .embedded(let local):
            what = String(format: "Loaded %@ in %.1f s (%@, %dx%d)", local.name, seconds, local.family.rawValue,
                          local.nativeSize, local.nativeSize)
            // The model's own settings (stipple_defaults.json) into the fields the person left.
            do {
                if let settings = state.panel.setModelDefaults(try local.recommendedSettings()) { notes.append("its settings: " + settings) }
            } catch {
                notes.append("\(error); the settings stay")
                kind = .warning
            }
        case .remote(let checkpoint):
            what = "Using \(checkpoint.name) on \(checkpoint.server) (\(checkpoint.family.shortName)?, "
                + "\(checkpoint.nativeSize)x\(checkpoint.nativeSize))"
        }
        state.setStatus(what + (notes.isEmpty ? "." : "; " + notes.joined(separator: "; ") + "."), kind)
    }

    func handle(_ event: GenerationEvent, state: inout StudioState) {
        switch event {
        case .started(let start):
            if start.imageIndex == 0, !jobs.isEmpty { jobs[0].started = true }
            progress = nil
            if let job = jobs.first {
                state.beginTimeline(request: job.request, seed: start.seed, model: job.use)
            }
            if paused {
                state.setStatus("Paused before step 1. ^N one step, ^P resume.")
            } else {
                state.setStatus("Generating: seed \(start.seed), \(start.steps) steps"
                                + (start.imageCount > 1 ? " (image \(start.imageIndex + 1) of \(start.imageCount))" : ""))
            }
        case .step(let step):
            progress = step
            state.current?.append(step)
        case .decoding:
            state.setStatus("Decoding...")
        case .warning(let message):
            state.setStatus("Warning: \(message)", .warning)
        case .image(let image):
            state.current?.final = image.image
            save(image, state: &state)
        case .finished:
            finishJob()
        case .failed(let message):
            state.setStatus("Failed: \(message)", .error)
            finishJob()
        case .cancelled:
            state.setStatus("Cancelled.", .warning)
            finishJob()
        }
    }

    /// A finished image into the output folder (with the model its job ran on) and the gallery.
    func save(_ image: GeneratedImage, state: inout StudioState) {
        let use = jobs.first?.use ?? model
        do {
            let url = try ImageSaver(target: use.target, modelHash: use.hash.value).save(image, in: OutputFolder(url: outputFolder))
            state.gallery.add(url)
            state.setStatus("Saved \(url.path)", .success)
        } catch {
            state.setStatus("Could not save: \(error)", .error)
        }
    }

    func finishJob() {
        if !jobs.isEmpty { jobs.removeFirst() }
        paused = false
        progress = nil
    }
}
