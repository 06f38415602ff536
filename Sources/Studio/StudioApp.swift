import Diffusion
import Foundation
import Imaging
import Terminal

/// The studio's main loop (docs/STUDIO.md): one thread owns curses and waits in `poll` on the
/// tty, the engine's event pipe and a signal pipe; it never blocks on the engine. Keys go through
/// `KeyDecoder` and `StudioKeyMap`; engine events update `StudioState`; each wake-up redraws
/// (curses sends only what changed) and then writes the image into its pane.
public final class StudioApp {
    public struct Options {
        public var graphics: GraphicsMode
        public var cellSize: PixelSize?
        public var theme: Theme
        /// Where the themes F5 cycles through live.
        public var themesFolder: URL?
        public var outputFolder: URL
        /// Initial values of the controls.
        public var initial: GenerationRequest
        /// The img2img field's initial path.
        public var initImagePath: String?
        /// When set, each key's latency (key read -> screen refreshed with its effect, in ms) is
        /// appended to this file.
        public var latencyTrace: URL?
        /// The terminal has sixel display mode set (images at the top-left corner): the studio
        /// resets it while it runs and sets it again on the way out.
        public var sixelDisplayMode = false

        public init(graphics: GraphicsMode, cellSize: PixelSize?, theme: Theme, themesFolder: URL? = nil,
                    outputFolder: URL, initial: GenerationRequest, initImagePath: String? = nil, latencyTrace: URL? = nil,
                    sixelDisplayMode: Bool = false) {
            (self.graphics, self.cellSize, self.theme, self.themesFolder) = (graphics, cellSize, theme, themesFolder)
            (self.outputFolder, self.initial, self.initImagePath, self.latencyTrace) = (outputFolder, initial, initImagePath, latencyTrace)
            self.sixelDisplayMode = sixelDisplayMode
        }
    }

    var model: StableDiffusionModel
    let options: Options
    var state: StudioState
    let queue = GenerationQueue()
    let events = EventInbox()
    var hash: ModelHashTask
    /// Controls of submitted jobs not finished yet, oldest (the running one) first.
    var controls: [GenerationControl] = []
    /// Submitted jobs not finished yet, as `controls`: what they ask and the model (and its hash)
    /// they run on, which the images are saved with even if another model was loaded since.
    var jobs: [(request: GenerationRequest, model: StableDiffusionModel, hash: ModelHashTask)] = []
    /// What the pane shows, as last drawn: a new value redraws the image.
    var drawnImage: ShownImage?
    /// The cells the drawn image covers.
    var drawnPlacement: Rect?
    var imageDirty = true
    var lastImageWrite = Date.distantPast
    var screen: CursesScreen?
    /// Key arrival times waiting for the refresh that shows their effect.
    var pendingKeyTimes: [Date] = []
    var latencies: [Double] = []

    public init(model: StableDiffusionModel, options: Options) {
        self.model = model
        self.options = options
        let size = options.initial.size(for: model)
        state = StudioState(modelName: model.name, width: size.width, height: size.height,
                            gallery: Gallery.load(folder: options.outputFolder), themeName: options.theme.name)
        if !options.initial.prompt.isEmpty { state.prompt.text = options.initial.prompt }
        if !options.initial.negativePrompt.isEmpty { state.negative.text = options.initial.negativePrompt }
        var initial = options.initial
        initial.width = size.width
        initial.height = size.height
        state.panel.load(initial)
        state.panel.preview = options.initial.preview
        state.panel.fullPreviewInterval = options.initial.fullPreviewInterval
        state.panel.initImage = options.initImagePath ?? ""
        if options.initial.seed == nil { state.panel.seedLocked = false }
        hash = ModelHashTask(model: model)
    }

    /// Runs until Ctrl-Q or a terminating signal; returns the exit status. The terminal is given
    /// back on every path out of here (and by `TerminalRescue` when the process dies of a signal).
    public func run() -> Int32 {
        TerminalRescue.install()
        let signals = SignalPipe(signals: [SIGWINCH, SIGTERM, SIGINT, SIGHUP])
        let screen = CursesScreen(theme: options.theme)
        self.screen = screen
        defer {
            for control in controls { control.cancel() }
            screen.end()
            // Leave nothing of an image behind the shell prompt.
            writeTTY(Array((EscapeSequence.clearScreen + EscapeSequence.cursorHome).utf8))
            writeLatencies()
        }
        writeTTY(Array(EscapeSequence.bracketedPasteOn.utf8))
        defer { writeTTY(Array(EscapeSequence.bracketedPasteOff.utf8)) }
        let resetSixelDisplayMode = options.graphics == .sixel && options.sixelDisplayMode
        if resetSixelDisplayMode { writeTTY(Array(EscapeSequence.sixelDisplayModeOff.utf8)) }
        defer { if resetSixelDisplayMode { writeTTY(Array(EscapeSequence.sixelDisplayModeOn.utf8)) } }
        var decoder = KeyDecoder()
        /// When the decoder began waiting on a lone ESC (engine events keep `poll` busy, so its
        /// timeout alone cannot tell that the ESC stood alone).
        var pendingSince: Date?
        var running = true
        /// 128 + the signal that ended the studio (the shell's convention); 0 for Ctrl-Q / Ctrl-C.
        var status: Int32 = 0
        var previousSize = screen.size
        draw(on: screen)
        if ProcessInfo.processInfo.environment["STIPPLE_TEST_TRAP"] == "1" { Self.trapForTesting() }
        while running {
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: events.readEnd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)]
            let timeout: Int32 = decoder.isPending || imageDirty ? 30 : 500
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { break }
            var keys: [Key] = []
            if fds[0].revents & Int16(POLLIN) != 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(STDIN_FILENO, &buffer, buffer.count)
                if n <= 0 { break }  // the terminal went away
                if options.latencyTrace != nil { pendingKeyTimes.append(Date()) }
                keys += decoder.feed(buffer[0..<n])
                pendingSince = decoder.isPending ? Date() : nil
            } else if let since = pendingSince, Date().timeIntervalSince(since) >= 0.03 {
                keys += decoder.flush()
                pendingSince = nil
            }
            if fds[2].revents & Int16(POLLIN) != 0 {
                for signal in signals.drain() {
                    if signal == SIGWINCH {
                        var size = winsize()
                        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 {
                            screen.resize(rows: Int(size.ws_row), columns: Int(size.ws_col))
                        }
                    } else {
                        running = false
                        if status == 0 { status = 128 + signal }
                    }
                }
            }
            let width = StudioView.editorWidth(columns: screen.size.columns, rows: screen.size.rows)
            for key in keys where running {
                let helpWasShown = state.showHelp
                let focusBefore = state.focus
                for effect in StudioKeyMap.handle(key, state: &state, editorWidth: width) {
                    if !perform(effect) { running = false }
                }
                // The help overlay and the gallery list cover cells an image may be on.
                if helpWasShown != state.showHelp || (focusBefore == .gallery) != (state.focus == .gallery) {
                    imageDirty = true
                }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                for event in events.drain() {
                    switch event {
                    case .engine(let engineEvent): handle(engineEvent)
                    case .modelLoaded(let loaded, let seconds): useModel(loaded, seconds: seconds)
                    case .modelFailed(let message): state.setStatus(message, .error)
                    }
                }
            }
            if screen.size != previousSize {
                previousSize = screen.size
                // Image bytes the terminal holds are unknown to curses: wipe them, then repaint all.
                writeTTY(Array(EscapeSequence.clearScreen.utf8))
                screen.repaintAll()
                imageDirty = true
            }
            draw(on: screen)
        }
        return status
    }

    /// A deliberate Swift runtime error, for the test that the terminal survives one
    /// (STIPPLE_TEST_TRAP=1; see docs/DECISIONS.md).
    static func trapForTesting() {
        let empty: [Int] = []
        _ = empty[Int(getpid()) % 2 + 1]
    }

    // MARK: Effects and events

    /// Carries out a key's effect; false to quit.
    func perform(_ effect: StudioState.Effect) -> Bool {
        switch effect {
        case .quit:
            return false
        case .generate(var request):
            // Both latents for the timeline's toggle, unless that means a second large VAE decode.
            request.previewBothLatents = request.preview == .approx || model.nativeSize <= 128
            let path = state.panel.initImage.trimmingCharacters(in: .whitespaces)
            do {
                if !path.isEmpty {
                    let size = request.size(for: model)
                    request.initImage = try InitImage.load(path: path, width: size.width, height: size.height)
                }
                try request.validate(for: model)
                // The output folder must take the images before any work starts.
                let size = request.size(for: model)
                try OutputFolder(url: options.outputFolder).checkWritable(
                    bytes: OutputFolder.imageBytes(width: size.width, height: size.height, count: request.batchCount))
            } catch {
                if state.running { state.queued = max(0, state.queued - 1) }
                state.setStatus("\(error)", .error)
                return true
            }
            jobs.append((request, model, hash))
            let inbox = events
            let control = queue.submit(request, model: model) { event in inbox.post(.engine(event)) }
            controls.append(control)
            // Esc and pause act from now on: prompt encoding and img2img's VAE encode come before
            // the first step's event and take seconds on a full-size model.
            state.running = true
        case .cancel:
            controls.first?.cancel()
            state.setStatus("Cancelling...")
        case .pause:
            controls.first?.pause()
            state.setStatus("Paused. ^N one step, ^P resume.")
        case .resume:
            controls.first?.resume()
            state.setStatus("Resumed.")
        case .stepOnce:
            controls.first?.stepOnce()
        case .save:
            saveShown()
        case .exportTimeline:
            exportTimeline()
        case .showGalleryEntry:
            showGalleryEntry()
        case .nextTheme:
            nextTheme()
        case .loadModel(let path):
            state.setStatus("Loading \(path)...")
            let inbox = events
            DispatchQueue.global(qos: .userInitiated).async {
                let start = Date()
                do {
                    let loaded = try ModelLocator.load(path: path)
                    inbox.post(.modelLoaded(loaded, seconds: Date().timeIntervalSince(start)))
                } catch {
                    inbox.post(.modelFailed("\(error)"))
                }
            }
        }
        return true
    }

    /// A model loaded from the panel: the next generations use it (a running one finishes on the
    /// old one); the size follows its native size.
    func useModel(_ loaded: StableDiffusionModel, seconds: Double) {
        model = loaded
        hash = ModelHashTask(model: loaded)
        state.modelName = loaded.name
        state.panel.width = loaded.nativeSize
        state.panel.height = loaded.nativeSize
        state.setStatus(String(format: "Loaded %@ in %.1f s (%@, %dx%d).", loaded.name, seconds, loaded.family.rawValue,
                               loaded.nativeSize, loaded.nativeSize), .success)
    }

    func handle(_ event: GenerationEvent) {
        switch event {
        case .started(let start):
            state.running = true
            if start.imageIndex == 0 { state.queued = max(0, state.queued - 1) }
            state.progress = nil
            if let job = jobs.first {
                state.beginTimeline(request: job.request, seed: start.seed, model: ModelUse(model: job.model, hash: job.hash))
            }
            if state.paused {
                state.setStatus("Paused before step 1. ^N one step, ^P resume.")
            } else {
                state.setStatus("Generating: seed \(start.seed), \(start.steps) steps"
                                + (start.imageCount > 1 ? " (image \(start.imageIndex + 1) of \(start.imageCount))" : ""))
            }
        case .step(let progress):
            state.progress = progress
            state.current?.append(progress)
        case .decoding:
            state.setStatus("Decoding...")
        case .image(let image):
            state.current?.final = image.image
            do {
                let job = jobs.first ?? (image.request, model, hash)
                let url = try ImageSaver(model: job.model, modelHash: job.hash.value).save(image, in: OutputFolder(url: options.outputFolder))
                state.gallery.add(url)
                state.setStatus("Saved \(url.path)", .success)
            } catch {
                state.setStatus("Could not save: \(error)", .error)
            }
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

    func finishJob() {
        if !controls.isEmpty { controls.removeFirst() }
        if !jobs.isEmpty { jobs.removeFirst() }
        state.running = !controls.isEmpty
        state.paused = false
        state.progress = nil
    }

    /// Ctrl-S: saves the image in the pane (an intermediate step too) with its parameters.
    func saveShown() {
        guard let shown = state.shownImage else {
            state.setStatus("Nothing to save yet.", .warning)
            return
        }
        guard let request = shown.request, let seed = shown.seed else {
            if case .file(let url) = shown.source { state.setStatus("\(url.lastPathComponent) is already saved.") }
            return
        }
        let made = shown.model ?? ModelUse(model: model, hash: hash)
        var infotext = Infotext(request: request, seed: seed, width: shown.image.width,
                                height: shown.image.height, model: made.model, modelHash: made.hash.value,
                                version: ImageSaver.version)
        var suffix: String?
        if let step = shown.step {
            infotext["Step"] = "\(step)"
            infotext["Preview"] = state.latent == .denoised ? "denoised" : "noisy"
            suffix = "step\(step)" + (state.latent == .noisy ? "-noisy" : "")
        }
        do {
            let bytes = try ImageSaver.png(shown.image, parameters: infotext.text)
            let url = try OutputFolder(url: options.outputFolder).save(bytes, seed: seed, suffix: suffix)
            state.gallery.add(url)
            state.setStatus("Saved \(url.path)", .success)
        } catch {
            state.setStatus("Could not save: \(error)", .error)
        }
    }

    /// F4 / `e`: the viewed timeline as a contact-sheet PNG in the output folder.
    func exportTimeline() {
        guard let timeline = state.viewedTimeline,
              let sheet = ContactSheet().render(timeline, latent: state.latent) else {
            state.setStatus("No timeline to export yet: generate an image first (with previews on).", .warning)
            return
        }
        let made = timeline.model ?? ModelUse(model: model, hash: hash)
        let size = timeline.final.map { ($0.width, $0.height) } ?? timeline.request.size(for: made.model)
        var infotext = Infotext(request: timeline.request, seed: timeline.seed, width: size.0, height: size.1,
                                model: made.model, modelHash: made.hash.value, version: ImageSaver.version)
        infotext["Contact sheet"] = state.latent == .denoised ? "denoised" : "noisy"
        do {
            let bytes = try PNG.encode(sheet, texts: [PNGText(key: "parameters", value: infotext.text)])
            let url = try OutputFolder(url: options.outputFolder).save(bytes, seed: timeline.seed,
                                                                      suffix: state.latent == .denoised ? "timeline" : "timeline-noisy")
            state.gallery.add(url)
            state.setStatus("Contact sheet saved: \(url.path)", .success)
        } catch {
            state.setStatus("Could not save the contact sheet: \(error)", .error)
        }
    }

    /// Reads the selected gallery image into the pane.
    func showGalleryEntry() {
        guard let entry = state.gallery.selectedEntry else { return }
        if state.opened?.url == entry.url { return }
        do {
            let file = try PNG.read(path: entry.url.path)
            state.opened = (entry.url, PixelImage(file.image))
        } catch {
            state.opened = nil
            state.setStatus(error.description, .error)
        }
    }

    /// F5 / `t`: the next theme of the themes folder.
    func nextTheme() {
        guard let folder = options.themesFolder else { return }
        let names = Theme.available(in: folder)
        guard !names.isEmpty else { return }
        let next = names[((names.firstIndex(of: state.themeName) ?? -1) + 1) % names.count]
        do {
            let theme = try Theme.load(named: next, from: folder)
            screen?.setTheme(theme)
            state.themeName = next
            imageDirty = true
            state.setStatus("Theme: \(next) (set theme = \"\(next)\" in \(StudioConfig.path) to keep it).")
        } catch {
            state.setStatus("theme \(next): \(error.description)", .error)
        }
    }

    // MARK: Drawing

    func draw(on screen: CursesScreen) {
        let pane = StudioView().draw(state, on: screen)
        let shown = state.showHelp ? nil : state.shownImage
        if shown != drawnImage { imageDirty = true }
        var bytes: [UInt8] = []
        var placement: Rect?
        if let pane, imageDirty {
            if let shown {
                // At most one live frame per 40 ms: a fast sampler's previews would otherwise fill
                // the terminal's input faster than it can draw them, and keys would wait behind them.
                let isLivePreview = shown.step != nil && state.running && state.frameIndex == nil
                if Date().timeIntervalSince(lastImageWrite) >= 0.04 || !isLivePreview {
                    let image = RGBImage(shown.image)
                    let imagePane = ImagePane(mode: options.graphics, cellSize: options.cellSize)
                    placement = imagePane.placement(for: image, in: pane)
                    bytes = imagePane.bytes(for: image, in: pane)
                }
            } else {
                placement = Rect(row: pane.row, column: pane.column, rows: 0, columns: 0)
                bytes = ImagePane(mode: options.graphics, cellSize: options.cellSize).clearBytes()
            }
        }
        // A smaller image, or none, must not leave the old one's pixels behind: have curses
        // rewrite the rows it covered (curses' cells there are blank, so this erases them).
        if let placement, let last = drawnPlacement, placement != last {
            screen.touchRows(last.row, count: last.rows)
        }
        screen.refresh()
        if !pendingKeyTimes.isEmpty {
            let now = Date()
            latencies += pendingKeyTimes.map { now.timeIntervalSince($0) * 1000 }
            pendingKeyTimes.removeAll()
        }
        guard let placement else { return }
        imageDirty = false
        drawnImage = shown
        drawnPlacement = placement.rows > 0 ? placement : nil
        if !bytes.isEmpty {
            if shown != nil { lastImageWrite = Date() }
            writeTTY(bytes)
        }
    }

    func writeLatencies() {
        guard let url = options.latencyTrace, !latencies.isEmpty else { return }
        let text = latencies.map { String(format: "%.3f", $0) }.joined(separator: "\n") + "\n"
        if let handle = try? FileHandle(forWritingTo: url) {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try? handle.close()
        } else {
            try? text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    func writeTTY(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// Engine events handed from the generation queue's thread to the main loop: kept in a locked
/// list, with one byte written to a pipe the main loop polls.
final class EventInbox: @unchecked Sendable {  // `pending` guarded by `lock`
    enum Event: Sendable {
        case engine(GenerationEvent)
        case modelLoaded(StableDiffusionModel, seconds: Double)
        case modelFailed(String)
    }

    private let lock = NSLock()
    private var pending: [Event] = []
    let readEnd: Int32
    private let writeEnd: Int32

    init() {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
    }

    func post(_ event: Event) {
        lock.lock()
        pending.append(event)
        lock.unlock()
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() -> [Event] {
        var scratch = [UInt8](repeating: 0, count: 256)
        while read(readEnd, &scratch, scratch.count) > 0 {}
        lock.lock()
        defer { lock.unlock() }
        let events = pending
        pending.removeAll()
        return events
    }
}

/// Signals turned into bytes on a pipe (the self-pipe trick): the handler only writes.
final class SignalPipe {
    let readEnd: Int32
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    init(signals: [Int32]) {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        readEnd = fds[0]
        Self.writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        // A parent may have started us with these blocked (signal masks are inherited): unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in signals {
            signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(SignalPipe.writeEnd, &byte, 1)
            }
        }
    }

    /// The signals received since the last call.
    func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var received: [Int32] = []
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n].map { Int32($0) }
        }
        return received
    }
}
