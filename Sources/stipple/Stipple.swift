import ArgumentParser

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
        subcommands: [StudioCommand.self, Generate.self, Info.self, Show.self, Bench.self],
        defaultSubcommand: StudioCommand.self
    )
}
