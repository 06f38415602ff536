import Diffusion
import Foundation
import Terminal

/// The studio's main loop (docs/STUDIO.md): one thread owns curses and waits in `poll` on the
/// tty, the generation controller's inbox and a signal pipe; it never blocks on the engine. Keys
/// go through `KeyDecoder` and `StudioKeyMap`; their effects go to `GenerationController` (jobs,
/// models), `ImageExporter` (Ctrl-S, contact sheets), the gallery and `ThemeCycle`; the inbox's
/// events go to the controller; each wake-up redraws through `StudioRenderer`.
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
        /// A server's monitor question (a remote backend's `RemoteSetup.probe`): asked every few
        /// seconds while the studio runs, its changes shown in the status line.
        public var backendProbe: (@Sendable () async -> Result<String, BackendMonitor.ProbeFailure>)?
        /// The loaded model's own settings (its `stipple_defaults.json`, already in `initial`), so
        /// that loading another model knows which fields the person left.
        public var modelSettings = ParameterPanel.ModelSettings(nil)
        /// The models the Model field's Left/Right go through (`ModelLocator.bundledModels()`).
        public var modelChoices: [String] = []

        public init(graphics: GraphicsMode, cellSize: PixelSize?, theme: Theme, themesFolder: URL? = nil,
                    outputFolder: URL, initial: GenerationRequest, initImagePath: String? = nil, latencyTrace: URL? = nil,
                    sixelDisplayMode: Bool = false,
                    backendProbe: (@Sendable () async -> Result<String, BackendMonitor.ProbeFailure>)? = nil) {
            (self.graphics, self.cellSize, self.theme, self.themesFolder) = (graphics, cellSize, theme, themesFolder)
            (self.outputFolder, self.initial, self.initImagePath, self.latencyTrace) = (outputFolder, initial, initImagePath, latencyTrace)
            self.sixelDisplayMode = sixelDisplayMode
            self.backendProbe = backendProbe
        }
    }

    let options: Options
    var state: StudioState
    let controller: GenerationController
    let exporter: ImageExporter
    let themes: ThemeCycle
    let renderer: StudioRenderer
    var latency: LatencyTrace
    var screen: CursesScreen?

    /// Test seam: runs once, right after the first frame is drawn (the test that a Swift runtime
    /// error still gives the terminal back sets it to trap; see docs/DECISIONS.md).
    @_spi(Testing) nonisolated(unsafe) public static var afterFirstFrame: (() -> Void)?

    /// The studio on the embedded engine with `model` loaded.
    public convenience init(model: StableDiffusionModel, options: Options) {
        self.init(controller: GenerationController(model: model, outputFolder: options.outputFolder), options: options)
    }

    /// The studio on `controller`'s backend and model (a remote server's, say).
    public init(controller: GenerationController, options: Options) {
        self.options = options
        let model = controller.model.target
        let size = options.initial.size(for: model)
        state = StudioState(modelName: model.name, width: size.width, height: size.height,
                            gallery: Gallery.load(folder: options.outputFolder), themeName: options.theme.name)
        state.panel.setModel(model)
        state.panel.modelSettings = options.modelSettings
        state.panel.modelChoices = options.modelChoices
        if !options.initial.prompt.isEmpty { state.prompt.text = options.initial.prompt }
        if !options.initial.negativePrompt.isEmpty { state.negative.text = options.initial.negativePrompt }
        var initial = options.initial
        initial.width = size.width
        initial.height = size.height
        state.panel.load(initial)
        state.panel.preview = options.initial.preview
        state.panel.base = options.initial
        state.panel.fullPreviewInterval = options.initial.fullPreviewInterval
        state.panel.initImage = options.initImagePath ?? ""
        if options.initial.seed == nil { state.panel.seedLocked = false }
        self.controller = controller
        exporter = ImageExporter(outputFolder: options.outputFolder)
        themes = ThemeCycle(folder: options.themesFolder)
        renderer = StudioRenderer(graphics: options.graphics, cellSize: options.cellSize)
        latency = LatencyTrace(file: options.latencyTrace)
    }

    /// Runs until Ctrl-Q or a terminating signal; returns the exit status. The terminal is given
    /// back on every path out of here (and by `TerminalRescue` when the process dies of a signal).
    public func run() -> Int32 {
        TerminalRescue.install()
        let signals = SignalPipe(signals: [SIGWINCH, SIGTERM, SIGINT, SIGHUP])
        let screen = CursesScreen(theme: options.theme)
        self.screen = screen
        defer {
            controller.cancelAll(waitingUpTo: 3)
            screen.end()
            // Leave nothing of an image behind the shell prompt.
            TTY.write(EscapeSequence.clearScreen + EscapeSequence.cursorHome)
            latency.write()
        }
        TTY.write(EscapeSequence.bracketedPasteOn)
        defer { TTY.write(EscapeSequence.bracketedPasteOff) }
        let monitor = BackendMonitor()
        if let probe = options.backendProbe { monitor.start(inbox: controller.inbox, probe: probe) }
        defer { monitor.stop() }
        let resetSixelDisplayMode = options.graphics == .sixel && options.sixelDisplayMode
        if resetSixelDisplayMode { TTY.write(EscapeSequence.sixelDisplayModeOff) }
        defer { if resetSixelDisplayMode { TTY.write(EscapeSequence.sixelDisplayModeOn) } }
        var decoder = KeyDecoder()
        /// When the decoder began waiting on a lone ESC (engine events keep `poll` busy, so its
        /// timeout alone cannot tell that the ESC stood alone).
        var pendingSince: Date?
        var running = true
        /// 128 + the signal that ended the studio (the shell's convention); 0 for Ctrl-Q / Ctrl-C.
        var status: Int32 = 0
        var previousSize = screen.size
        draw(on: screen)
        Self.afterFirstFrame?()
        while running {
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: controller.inbox.readEnd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals.readEnd, events: Int16(POLLIN), revents: 0)]
            let timeout: Int32 = decoder.isPending || renderer.imageDirty ? 30 : 500
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { break }
            var keys: [Key] = []
            if fds[0].revents & Int16(POLLIN) != 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(STDIN_FILENO, &buffer, buffer.count)
                if n <= 0 { break }  // the terminal went away
                latency.keysRead()
                keys += decoder.feed(buffer[0..<n])
                pendingSince = decoder.isPending ? Date() : nil
            } else if let since = pendingSince, Date().timeIntervalSince(since) >= 0.03 {
                keys += decoder.flush()
                pendingSince = nil
            }
            if fds[2].revents & Int16(POLLIN) != 0 {
                for signal in signals.drain() {
                    if signal == SIGWINCH {
                        Self.followWindowSize(screen)
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
                    renderer.invalidate()
                }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                controller.drainEvents(into: &state)
            }
            if screen.size != previousSize {
                previousSize = screen.size
                // Image bytes the terminal holds are unknown to curses: wipe them, then repaint all.
                TTY.write(EscapeSequence.clearScreen)
                screen.repaintAll()
                renderer.invalidate()
            }
            draw(on: screen)
        }
        return status
    }

    /// SIGWINCH: tells curses the window's new size.
    static func followWindowSize(_ screen: CursesScreen) {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 {
            screen.resize(rows: Int(size.ws_row), columns: Int(size.ws_col))
        }
    }

    /// Carries out a key's effect; false to quit.
    func perform(_ effect: StudioState.Effect) -> Bool {
        if controller.perform(effect, state: &state) { return true }
        switch effect {
        case .quit: return false
        case .save: exporter.saveShown(&state, model: controller.model)
        case .exportTimeline: exporter.exportTimeline(&state, model: controller.model)
        case .showGalleryEntry: state.openSelectedGalleryEntry()
        case .nextTheme:
            if let theme = themes.next(&state) {
                screen?.setTheme(theme)
                renderer.invalidate()
            }
        case .generate, .cancel, .pause, .resume, .stepOnce, .loadModel, .openForward, .openForwardFile, .forwardAt, .runGrid,
             .cancelGrid: break  // the controller's
        }
        return true
    }

    func draw(on screen: CursesScreen) {
        renderer.draw(state, on: screen) { latency.refreshed() }
    }
}
