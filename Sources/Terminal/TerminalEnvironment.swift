import CNcursesw
import Foundation

/// What the environment variables and the terminfo database say about the terminal.
///
/// Passive evidence only: nothing is sent to the terminal. ``TerminalCapabilities`` weighs it
/// together with what the terminal itself answers (``TerminalReplies``).
public struct TerminalEnvironment: Sendable, Equatable {
    /// What the terminfo entry for `TERM` declares.
    public struct Terminfo: Sendable, Equatable {
        /// The `RGB` capability (ncurses' standard way to declare direct 24-bit colour).
        public var hasRGB: Bool
        /// The `Tc` capability (tmux's older extension for 24-bit colour).
        public var hasTc: Bool
        /// The `colors` capability: how many palette colours; nil when absent.
        public var colors: Int?

        /// A terminfo entry with these capabilities.
        public init(hasRGB: Bool = false, hasTc: Bool = false, colors: Int? = nil) {
            self.hasRGB = hasRGB
            self.hasTc = hasTc
            self.colors = colors
        }
    }

    /// `TERM`, e.g. `xterm-256color`, `xterm-kitty`, `tmux-256color`, `dumb`.
    public var term: String?
    /// `COLORTERM`; `truecolor` or `24bit` promise 24-bit colour.
    public var colorTerm: String?
    /// `TERM_PROGRAM`, set by some terminals (`iTerm.app`, `WezTerm`, `vscode`, `mintty`, `tmux`).
    public var termProgram: String?
    /// `KITTY_WINDOW_ID`, set inside kitty windows.
    public var kittyWindowID: String?
    /// Whether `TMUX` is set: we run inside tmux, which answers the queries itself
    /// (tmux 3.3 on Debian 12 has no sixel).
    public var insideTmux: Bool
    /// The terminfo entry for `term`; nil when not looked up or not found.
    public var terminfo: Terminfo?

    /// The `TERM_PROGRAM` values of terminals known to show 24-bit colour.
    public static let truecolorPrograms: Set<String> = [
        "iTerm.app", "WezTerm", "vscode", "mintty", "ghostty", "Hyper", "rio", "Tabby",
    ]

    /// Reads the relevant variables from `variables` (use this in tests); `terminfo` is taken
    /// as given, nothing is looked up.
    public init(variables: [String: String], terminfo: Terminfo? = nil) {
        func value(_ name: String) -> String? {
            guard let value = variables[name], !value.isEmpty else { return nil }
            return value
        }
        term = value("TERM")
        colorTerm = value("COLORTERM")
        termProgram = value("TERM_PROGRAM")
        kittyWindowID = value("KITTY_WINDOW_ID")
        insideTmux = value("TMUX") != nil
        self.terminfo = terminfo
    }

    /// The process's environment, with the terminfo entry for its `TERM` looked up.
    ///
    /// Call it before curses starts: `setupterm` resets ncurses' idea of the screen size.
    public static func current() -> TerminalEnvironment {
        let variables = ProcessInfo.processInfo.environment
        var environment = TerminalEnvironment(variables: variables)
        if let term = environment.term {
            environment.terminfo = lookUpTerminfo(term: term)
        }
        return environment
    }

    // MARK: What it adds up to

    /// `TERM` is `dumb` (or unset): a terminal that takes no escape sequences at all.
    public var isDumb: Bool { term == nil || term == "dumb" }

    /// The Linux virtual console, which prints APC strings it does not understand.
    public var isLinuxConsole: Bool { term == "linux" }

    /// Whether anything here promises 24-bit colour: `COLORTERM`, terminfo `RGB`/`Tc`,
    /// a `-direct` terminfo name, kitty, or a known `TERM_PROGRAM`.
    public var claimsTruecolor: Bool {
        if let colorTerm, ["truecolor", "24bit"].contains(colorTerm.lowercased()) { return true }
        if let terminfo, terminfo.hasRGB || terminfo.hasTc { return true }
        if let term, term.hasSuffix("-direct") || term == "xterm-kitty" { return true }
        if kittyWindowID != nil { return true }
        if let termProgram, Self.truecolorPrograms.contains(termProgram) { return true }
        return false
    }

    /// Whether anything here promises the 256-colour palette: terminfo `colors` ≥ 256 or a
    /// `TERM` naming `256color`.
    public var claims256Colors: Bool {
        if let colors = terminfo?.colors, colors >= 256 { return true }
        return term?.contains("256color") ?? false
    }

    // MARK: Terminfo

    /// Serialises terminfo look-ups: `setupterm` works through ncurses' global `cur_term`.
    private static let terminfoLock = NSLock()

    /// Reads `RGB`, `Tc` and `colors` from the terminfo entry for `term`; nil when there is no
    /// such entry or the database cannot be read. Prints nothing, touches no terminal, and puts
    /// ncurses' current terminal back as it was.
    public static func lookUpTerminfo(term: String) -> Terminfo? {
        terminfoLock.lock()
        defer { terminfoLock.unlock() }

        let previous = set_curterm(nil)
        var status: Int32 = 0
        // fd -1: no terminal to inspect; a non-nil status pointer: report errors, never print.
        let result = setupterm(term, -1, &status)
        defer {
            // Put back whatever terminal ncurses had; free the one setupterm made (it may have
            // made one even when it reports an error).
            let ours = set_curterm(previous)
            if let ours, ours != previous { del_curterm(ours) }
        }
        guard result == OK, status == 1 else { return nil }

        // RGB is a boolean in most entries but a number (bits per colour) in some.
        let rgbFlag = tigetflag("RGB")
        let hasRGB = rgbFlag == 1 || (rgbFlag == -1 && tigetnum("RGB") > 0)
        let colors = tigetnum("colors")
        return Terminfo(
            hasRGB: hasRGB,
            hasTc: tigetflag("Tc") == 1,
            colors: colors >= 0 ? Int(colors) : nil
        )
    }
}
