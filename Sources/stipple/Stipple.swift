import ArgumentParser
import Foundation
import Terminal

/// The `stipple` command: subcommands for showing and (soon) generating images.
@main
struct Stipple: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stipple",
        abstract: "An interactive terminal studio for latent diffusion.",
        discussion: """
            stipple runs Stable-Diffusion-family models on the CPU and shows images in the terminal \
            (sixel, kitty, or colour half-blocks).
            """,
        version: "stipple 0.1.0",
        subcommands: [StudioCommand.self, Generate.self, Info.self, Show.self, Bench.self, Eval.self, Grid.self],
        defaultSubcommand: StudioCommand.self
    )

    /// ArgumentParser's `main`, ending with `_exit` instead of `exit`: OpenBLAS 0.3.21's exit-time
    /// handler joins its worker threads and can wait for ever when the last BLAS call ran on
    /// another thread (a cancelled generation on the engine's queue). Nothing of ours needs the
    /// exit handlers: files are written and closed before this point, the terminal is given back
    /// by the studio itself, and C stdio streams are flushed here. See docs/DECISIONS.md.
    static func main() {
        var status: Int32 = 0
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // Messages quote file names, file contents and model configs: controls made visible.
            let message = TerminalText.visible(fullMessage(for: error), keepingLineBreaks: true)
            if !message.isEmpty {
                if code == .success {
                    print(message)
                } else {
                    FileHandle.standardError.write(Data((message + "\n").utf8))
                }
            }
            status = code.rawValue
        }
        fflush(nil)  // every C stdio stream, standard output included
        _exit(status)
    }
}
