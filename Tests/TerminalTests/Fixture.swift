import Foundation
@testable import Terminal

/// The captured terminal replies in `Fixtures/` (see `Fixtures/README.md`), and the
/// TIOCGWINSZ each terminal reported at the time.
enum Fixture: String, CaseIterable, Sendable {
    case xtermVT340 = "xterm-vt340"
    case xtermVT340WindowOps = "xterm-vt340-windowops"
    case xterm = "xterm"
    case tmux33 = "tmux-3.3"
    case mlterm = "mlterm"
    case kitty = "kitty"
    case xtermVT340SixelDisplayMode = "xterm-vt340-sixel-display-mode"

    /// The raw reply bytes; empty (and the test fails on it) when the file is missing.
    var bytes: [UInt8] {
        guard let url = Bundle.module.url(
            forResource: rawValue, withExtension: "reply", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url)
        else { return [] }
        return Array(data)
    }

    /// TIOCGWINSZ in the terminal during the capture.
    var windowSize: TerminalProbe.WindowSize {
        switch self {
        case .xtermVT340, .xtermVT340WindowOps, .xterm, .xtermVT340SixelDisplayMode:
            TerminalProbe.WindowSize(columns: 80, rows: 24, pixelWidth: 484, pixelHeight: 316)
        case .tmux33:
            TerminalProbe.WindowSize(columns: 80, rows: 23, pixelWidth: 480, pixelHeight: 299)
        case .mlterm:
            TerminalProbe.WindowSize(columns: 80, rows: 24, pixelWidth: 800, pixelHeight: 528)
        case .kitty:
            TerminalProbe.WindowSize(columns: 71, rows: 20, pixelWidth: 639, pixelHeight: 400)
        }
    }

    /// The probe result the terminal gave: queried on a tty, these replies and this size.
    var probeResult: TerminalProbe.Result {
        TerminalProbe.Result(
            outputIsTerminal: true, queried: true,
            replies: TerminalReplyParser.parse(bytes), windowSize: windowSize)
    }
}

/// Bytes of a string written with `␛` for ESC, as the fixtures' README writes replies.
func bytes(_ text: String) -> [UInt8] {
    Array(text.replacingOccurrences(of: "␛", with: "\u{1B}").utf8)
}
