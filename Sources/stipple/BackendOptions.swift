import ArgumentParser
import Foundation
import Studio

/// Where `generate` and the studio run their generations: the embedded engine, or a server
/// (config.toml's `[backend]` table, which these options override).
struct BackendOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Where generations run: embedded (this machine's CPU; default), comfyui (a ComfyUI server) or a1111 (an AUTOMATIC1111-compatible API: A1111, Forge, SD.Next, stable-diffusion.cpp's sd-server). Default: kind in config.toml's [backend].",
        valueName: "KIND"))
    var backend: BackendSettings.Kind?

    @Option(name: .long, help: ArgumentHelp(
        "The server's address (default: url in [backend], else http://127.0.0.1:8188 for comfyui and http://127.0.0.1:7860 for a1111). Credentials come from [backend]'s token_env/token_file or user + password_env/password_file, or STIPPLE_BACKEND_TOKEN; never from the URL.",
        valueName: "URL"))
    var backendUrl: String?

    @Option(name: .long, help: ArgumentHelp(
        "With --backend comfyui: a ComfyUI workflow saved in API format (\"Save (API Format)\"), run with the prompt, negative prompt (when given) and seed put in; its size, steps, CFG, sampler and LoRAs stay as saved.",
        valueName: "FILE"))
    var workflow: String?

    /// The settings in effect: config.toml's, with these options over them; `model` (the
    /// `--model` option) names the server's checkpoint when a server is used.
    func settings(config: BackendSettings, model: String?) throws -> BackendSettings {
        var settings = config
        if let backend { settings.kind = backend }
        if let backendUrl {
            guard settings.isRemote else {
                throw CommandFailure("--backend-url needs --backend comfyui or a1111 (or kind in config.toml's [backend])")
            }
            settings.url = backendUrl
        }
        if let workflow {
            guard settings.kind == .comfyui else { throw CommandFailure("--workflow is for --backend comfyui (a ComfyUI workflow)") }
            settings.workflow = workflow
        }
        if settings.isRemote, let model { settings.checkpoint = model }
        return settings
    }
}

extension BackendSettings.Kind: ExpressibleByArgument {}
