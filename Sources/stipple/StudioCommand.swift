import ArgumentParser
import Diffusion
import Foundation
import Studio
import Tensor
import Terminal

/// `stipple` / `stipple studio`: the interactive terminal studio.
struct StudioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "studio",
        abstract: "The interactive studio: type a prompt, watch it denoise, save what you like (the default command).",
        discussion: """
            Generation options set the controls' initial values. Images are saved automatically, with \
            their parameters, to --output-dir (default outputs/, or output_dir in \
            ~/.config/stipple/config.toml). Press F1 in the studio for the keys.
            """
    )

    @OptionGroup var options: GenerationOptions

    @OptionGroup var server: BackendOptions

    @Option(name: .long, help: "auto, sixel, kitty, truecolor, 256 or none.")
    var graphics: GraphicsChoice = .auto

    @Option(name: .long, help: "Colour theme: dark, light or high-contrast (or theme in the config file).")
    var theme: String?

    @Option(name: .long, help: """
        Previews while sampling: off, approx (latent -> RGB, free), full (a VAE decode) or taesd (the tiny decoder). \
        Default: taesd at every step when the model has a tiny decoder (its folder's taesd/, or --taesd), else full at \
        every step for small models (native size 128 or less, where a decode is cheap), else approx.
        """)
    var preview: PreviewMode?

    @Option(name: .long, help: ArgumentHelp("Append each key's latency (key read to screen updated, ms) to FILE.",
                                            valueName: "FILE"))
    var traceLatency: String?

    func run() throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CommandFailure("the studio needs a terminal (use `stipple generate` in scripts)")
        }
        if let threads = options.threads { Threads.set(threads) }
        let config = try StudioConfig.current()
        let themeName = theme ?? config.theme ?? "dark"
        guard let themes = ModelLocator.themesFolder() else { throw CommandFailure(ModelLocator.themesNotFound()) }
        let loadedTheme: Theme
        do {
            loadedTheme = try Theme.load(named: themeName, from: themes)
        } catch {
            throw CommandFailure("theme \(themeName): \(error.description) (available: \(Theme.available(in: themes).joined(separator: ", ")))")
        }
        let backend = try server.settings(config: config.backend, model: options.model)
        let controller: GenerationController
        let output = URL(fileURLWithPath: options.outputDir ?? config.outputDirectory ?? "outputs")
        var probe: (@Sendable () async -> Result<String, BackendMonitor.ProbeFailure>)?
        if backend.isRemote {
            let setup: RemoteSetup
            do {
                setup = try RemoteSetup(backend)
            } catch {
                throw CommandFailure("\(error)")
            }
            for warning in setup.warnings {
                FileHandle.standardError.write(Data("stipple: warning: \(TerminalText.visible(warning))\n".utf8))
            }
            FileHandle.standardError.write(Data((TerminalText.visible("stipple: asking \(setup.backend.connection.label) for its checkpoints...") + "\n").utf8))
            // A server that does not answer now is a state, not an error: the studio starts and
            // says so; the checkpoint is found once the server answers (or the Model field names one).
            let found = try? setup.checkpoint(named: backend.checkpoint, timeout: .seconds(10))
            let checkpoint = found ?? RemoteCheckpoint(name: "", server: setup.backend.connection.serverName)
            controller = GenerationController(target: .remote(checkpoint), outputFolder: output, backend: setup.backend,
                                              modelResolver: { name in .remote(try setup.checkpoint(named: name.isEmpty ? nil : name)) })
            if found == nil { controller.wantedCheckpoint = backend.checkpoint }
            probe = { await setup.probe() }
        } else {
            FileHandle.standardError.write(Data("stipple: loading model...\n".utf8))
            let model: StableDiffusionModel
            do {
                model = try options.withTinyDecoder(ModelLocator.load(path: options.model, prediction: options.prediction?.type,
                                                                      weightType: options.weightType ?? config.weightType))
            } catch let error as CustomStringConvertible {
                throw CommandFailure(error.description)
            }
            controller = GenerationController(model: model, outputFolder: output)
        }
        let target = controller.model.target
        // The model's own settings (stipple_defaults.json) first; options given win over them.
        let prepared = try options.initialRequest(for: target.embedded, config: config)
        var initial = prepared.request
        if let tiling = config.vaeTiling { initial.vaeTiling = tiling }
        // A tiny decoder shows every step at full size for about a sixth of a VAE decode's time; a small
        // model's VAE decodes in milliseconds: real previews of every step either way.
        // A server's previews are its own (ComfyUI's latent2rgb for approx, TAESD for taesd).
        let small = target.nativeSize <= 128
        initial.preview = preview ?? (target.embedded?.tinyDecoder != nil ? .taesd : small && target.embedded != nil ? .full : .approx)
        initial.fullPreviewInterval = small ? 1 : 5
        // Ask the terminal what it can draw before curses takes it over.
        let capabilities = TerminalCapabilities.detect(probe: graphics == .auto || graphics.mode == .sixel)
        let mode = graphics.mode ?? capabilities.graphics
        var appOptions = StudioApp.Options(
            graphics: mode, cellSize: capabilities.cellPixelSize, theme: loadedTheme, themesFolder: themes, outputFolder: output,
            initial: initial, initImagePath: options.initImage, latencyTrace: traceLatency.map { URL(fileURLWithPath: $0) },
            sixelDisplayMode: capabilities.sixelDisplayMode, backendProbe: probe)
        appOptions.modelSettings = ParameterPanel.ModelSettings(prepared.defaults)
        appOptions.modelChoices = backend.isRemote ? [] : ModelLocator.bundledModels()
        let app = StudioApp(controller: controller, options: appOptions)
        let status = app.run()
        if status != 0 { throw ExitCode(status) }
    }
}
