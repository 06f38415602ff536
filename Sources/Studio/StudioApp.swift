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
        public var outputFolder: URL
        /// Initial values of the controls.
        public var initial: GenerationRequest

        public init(graphics: GraphicsMode, cellSize: PixelSize?, theme: Theme, outputFolder: URL, initial: GenerationRequest) {
            (self.graphics, self.cellSize, self.theme, self.outputFolder, self.initial) = (graphics, cellSize, theme, outputFolder, initial)
        }
    }

    let model: StableDiffusionModel
    let options: Options
    var state: StudioState
    let queue = GenerationQueue()
    let events = EventInbox()
    let hash: ModelHashTask
    /// Controls of submitted jobs not finished yet, oldest (the running one) first.
    var controls: [GenerationControl] = []
    /// The image in the pane and what made it.
    var shown: (pixels: PixelImage, request: GenerationRequest, step: Int?)?
    var imageDirty = true
    var lastImageWrite = Date.distantPast
    /// The request of the running job (for saving intermediate steps).
    var runningRequests: [GenerationRequest] = []

    public init(model: StableDiffusionModel, options: Options) {
        self.model = model
        self.options = options
        let size = options.initial.size(for: model)
        state = StudioState(modelName: model.name, width: size.width, height: size.height)
        state.prompt.text = options.initial.prompt
        state.negative.text = options.initial.negativePrompt
        var initial = options.initial
        initial.width = size.width
        initial.height = size.height
        state.panel.load(initial)
        if options.initial.seed == nil { state.panel.seedLocked = false }
        hash = ModelHashTask(model: model)
    }

    /// Runs until Ctrl-Q or a terminating signal; returns the exit status. The terminal is given
    /// back on every path out of here.
    public func run() -> Int32 {
        let signals = SignalPipe(signals: [SIGWINCH, SIGTERM, SIGINT, SIGHUP])
        let screen = CursesScreen(theme: options.theme)
        defer {
            for control in controls { control.cancel() }
            screen.end()
            // Leave nothing of an image behind the shell prompt.
            writeTTY(Array("\u{1B}[2J\u{1B}[H".utf8))
        }
        writeTTY(Array("\u{1B}[?2004h".utf8))  // bracketed paste on
        defer { writeTTY(Array("\u{1B}[?2004l".utf8)) }
        var decoder = KeyDecoder()
        /// When the decoder began waiting on a lone ESC (engine events keep `poll` busy, so its
        /// timeout alone cannot tell that the ESC stood alone).
        var pendingSince: Date?
        var running = true
        var previousSize = screen.size
        draw(on: screen)
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
                    }
                }
            }
            let width = StudioView.editorWidth(columns: screen.size.columns, rows: screen.size.rows)
            for key in keys where running {
                let helpWasShown = state.showHelp
                for effect in StudioKeyMap.handle(key, state: &state, editorWidth: width) {
                    if !perform(effect) { running = false }
                }
                if helpWasShown != state.showHelp { imageDirty = true }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                for event in events.drain() { handle(event) }
            }
            if screen.size != previousSize {
                previousSize = screen.size
                // Image bytes the terminal holds are unknown to curses: wipe them, then repaint all.
                writeTTY(Array("\u{1B}[2J".utf8))
                screen.repaintAll()
                imageDirty = true
            }
            draw(on: screen)
        }
        return 0
    }

    // MARK: Effects and events

    /// Carries out a key's effect; false to quit.
    func perform(_ effect: StudioState.Effect) -> Bool {
        switch effect {
        case .quit:
            return false
        case .generate(let request):
            runningRequests.append(request)
            let inbox = events
            let control = queue.submit(request, model: model) { event in inbox.post(event) }
            controls.append(control)
        case .cancel:
            controls.first?.cancel()
            state.setStatus("Cancelling...")
        case .pause:
            controls.first?.pause()
            state.setStatus("Paused. Ctrl-N: one step, Ctrl-P: resume.")
        case .resume:
            controls.first?.resume()
            state.setStatus("Resumed.")
        case .stepOnce:
            controls.first?.stepOnce()
        case .save:
            saveShown()
        }
        return true
    }

    func handle(_ event: GenerationEvent) {
        switch event {
        case .started(let start):
            state.running = true
            if start.imageIndex == 0 { state.queued = max(0, state.queued - 1) }
            state.progress = nil
            state.setStatus("Generating: seed \(start.seed), \(start.steps) steps"
                            + (start.imageCount > 1 ? " (image \(start.imageIndex + 1) of \(start.imageCount))" : ""))
        case .step(let progress):
            state.progress = progress
            if let preview = progress.preview, let request = runningRequests.first {
                shown = (preview, request, progress.step)
                imageDirty = true
            }
        case .decoding:
            state.setStatus("Decoding...")
        case .image(let image):
            shown = (image.image, image.request, nil)
            imageDirty = true
            do {
                let url = try ImageSaver(model: model, modelHash: hash.value).save(image, in: OutputFolder(url: options.outputFolder))
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
        if !runningRequests.isEmpty { runningRequests.removeFirst() }
        state.running = !controls.isEmpty
        state.paused = false
        state.progress = nil
    }

    /// Ctrl-S: saves the image in the pane (an intermediate step too) with its parameters.
    func saveShown() {
        guard let shown else {
            state.setStatus("Nothing to save yet.", .warning)
            return
        }
        var infotext = Infotext(request: shown.request, seed: shown.request.seed ?? 0, width: shown.pixels.width,
                                height: shown.pixels.height, model: model, modelHash: hash.value,
                                version: ImageSaver.version)
        if let step = shown.step { infotext["Step"] = "\(step)" }
        do {
            let bytes = try ImageSaver.png(shown.pixels, parameters: infotext.text)
            let url = try OutputFolder(url: options.outputFolder).save(bytes, seed: shown.request.seed ?? 0,
                                                                      suffix: shown.step.map { "step\($0)" })
            state.setStatus("Saved \(url.path)", .success)
        } catch {
            state.setStatus("Could not save: \(error)", .error)
        }
    }

    // MARK: Drawing

    func draw(on screen: CursesScreen) {
        let pane = StudioView().draw(state, on: screen)
        screen.refresh()
        guard let pane, imageDirty, !state.showHelp, let shown else { return }
        // At most one image frame per 40 ms: a fast sampler's previews would otherwise fill the
        // terminal's input faster than it can draw them, and keys would wait behind them.
        let now = Date()
        guard now.timeIntervalSince(lastImageWrite) >= 0.04 || shown.step == nil else { return }
        lastImageWrite = now
        imageDirty = false
        let image = RGBImage(width: shown.pixels.width, height: shown.pixels.height, pixels: shown.pixels.rgb)
        writeTTY(ImagePane(mode: options.graphics, cellSize: options.cellSize).bytes(for: image, in: pane))
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
    private let lock = NSLock()
    private var pending: [GenerationEvent] = []
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

    func post(_ event: GenerationEvent) {
        lock.lock()
        pending.append(event)
        lock.unlock()
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() -> [GenerationEvent] {
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
