import ArgumentParser
import Foundation
import Imaging
import Studio
import Terminal

/// `stipple show IMAGE`: draws a PNG or JPEG in the terminal, like chafa or img2sixel.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a PNG or JPEG image in the terminal.",
        discussion: """
            With --graphics auto (the default) the terminal is asked what it can draw: sixel or \
            kitty graphics when it has them, else 24-bit or 256-colour half-blocks. A format given \
            explicitly is written to standard output even when that is not a terminal, so it can be \
            piped or saved. Sixel and kitty images keep their own pixel size unless --width is given \
            or the window is smaller; half-blocks fill --width columns exactly, else fit the window.
            """
    )

    @Argument(help: "The PNG or JPEG file to show.")
    var image: String

    @Option(name: .long, help: "auto, sixel, kitty, truecolor, 256 or none.")
    var graphics: GraphicsChoice = .auto

    @Option(name: .long, help: "Width in terminal columns.")
    var width: Int?

    @Option(name: .long, help: "Sixel dithering: none, ordered (stable between frames) or diffusion (Floyd-Steinberg).")
    var dither: Dither = .none

    @Option(name: .long, help: "Most sixel colour registers to use (2-256).")
    var colors: Int = 256

    func validate() throws {
        if let width, !(1...2000).contains(width) {
            throw ValidationError("--width must be between 1 and 2000 columns, not \(width)")
        }
        if !(2...256).contains(colors) {
            throw ValidationError("--colors must be between 2 and 256, not \(colors)")
        }
    }

    func run() throws {
        let picture = try readImage(image)
        let outputIsTerminal = isatty(STDOUT_FILENO) == 1
        if graphics == .auto && !outputIsTerminal {
            throw CommandFailure("standard output is not a terminal: choose a format with --graphics (sixel, kitty, truecolor or 256)")
        }
        // Ask the terminal only when it matters: for auto, or for the window and cell size.
        let capabilities = outputIsTerminal ? TerminalCapabilities.detect(probe: graphics == .auto || graphics.mode == .sixel || graphics.mode == .kitty) : nil
        let mode = graphics.mode ?? capabilities?.graphics ?? .none
        var target = ImagePresenter.Target(
            mode: mode, columns: width,
            sixel: SixelEncoder.Settings(maxColors: min(colors, capabilities?.colorRegisters ?? 256), dither: dither))
        if let capabilities, let columns = capabilities.columns, let rows = capabilities.rows {
            target.window = (columns, rows)
            target.cellSize = capabilities.cellPixelSize
        }
        let bytes: [UInt8]
        do {
            bytes = try ImagePresenter().render(picture, on: target)
        } catch {
            throw CommandFailure(error.description)
        }
        try StandardOutput.write(bytes)
    }
}

/// The `--graphics` values.
enum GraphicsChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, sixel, kitty, truecolor, color256 = "256", none

    /// The format asked for, or nil for auto.
    var mode: GraphicsMode? { self == .auto ? nil : GraphicsMode(rawValue: rawValue) }
}

extension Dither: ExpressibleByArgument {}
