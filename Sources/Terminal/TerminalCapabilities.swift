/// What the terminal can show, decided from the environment and the terminal's own answers.
///
/// ``detect(environment:probe:timeout:)`` gathers the evidence;
/// ``init(environment:probe:)`` is the pure decision, for tests.
public struct TerminalCapabilities: Sendable, Equatable {
    /// The colour-register count assumed for sixel when the terminal does not report one.
    public static let defaultColorRegisters = 256

    /// The best way to show an image here.
    public var graphics: GraphicsMode
    /// Sixel colour registers the terminal reports (XTSMGRAPHICS), or
    /// ``defaultColorRegisters`` when it does not say.
    public var colorRegisters: Int
    /// The size of one character cell in pixels, when the terminal lets us know.
    public var cellPixelSize: PixelSize?
    /// Columns of character cells, when known.
    public var columns: Int?
    /// Rows of character cells, when known.
    public var rows: Int?
    /// Whether the terminal reported sixel display mode (DECSDM) set: sixel images would go to
    /// the top-left corner instead of the cursor until it is reset.
    public var sixelDisplayMode: Bool

    /// Capabilities as given.
    public init(
        graphics: GraphicsMode,
        colorRegisters: Int = TerminalCapabilities.defaultColorRegisters,
        cellPixelSize: PixelSize? = nil,
        columns: Int? = nil,
        rows: Int? = nil,
        sixelDisplayMode: Bool = false
    ) {
        self.graphics = graphics
        self.colorRegisters = colorRegisters
        self.cellPixelSize = cellPixelSize
        self.columns = columns
        self.rows = rows
        self.sixelDisplayMode = sixelDisplayMode
    }

    /// Looks at the environment, then (when `probe` is true and we are on an interactive
    /// terminal) asks the terminal, waiting at most `timeout` for its answers.
    ///
    /// Call it before curses starts: the probe reads the terminal's input, and the terminfo
    /// look-up resets ncurses' idea of the screen size.
    public static func detect(
        environment: TerminalEnvironment = .current(),
        probe: Bool = true,
        timeout: Duration = .milliseconds(300)
    ) -> TerminalCapabilities {
        let terminalProbe = TerminalProbe(
            timeout: timeout,
            queries: Array(EscapeSequence.probeQueries(
                includingKitty: !environment.isLinuxConsole).utf8)
        )
        let found = probe && !environment.isDumb ? terminalProbe.run() : terminalProbe.inspect()
        return TerminalCapabilities(environment: environment, probe: found)
    }

    /// Decides from the evidence alone; no input or output.
    ///
    /// Graphics, best first:
    /// 1. kitty, when the kitty graphics query answered `OK`. Both kitty and sixel give real
    ///    pixels, but a terminal that speaks both (WezTerm, Konsole) does kitty's protocol
    ///    better: 24-bit colour with no 256-register palette, and images it keeps itself.
    /// 2. sixel, when the DA1 reply lists attribute 4. Only the reply counts, never a guess
    ///    from `TERM_PROGRAM`: inside tmux it is tmux that answers, and tmux 3.3 (Debian 12)
    ///    answers `?1;2c` whatever the outer terminal can do; a tmux built with sixel lists 4.
    /// 3. truecolor half-blocks, when `COLORTERM`, terminfo `RGB`/`Tc`, kitty or a known
    ///    `TERM_PROGRAM` promise 24-bit colour.
    /// 4. 256-colour half-blocks for any other terminal: claimed by terminfo or `TERM`, and
    ///    assumed otherwise too, since virtually every terminal in use takes the 256-colour
    ///    SGR codes (and the Linux console approximates them).
    /// 5. none when output is not a terminal, `TERM` is `dumb` or unset (and no terminal
    ///    answered), or terminfo declares fewer than 8 colours.
    public init(environment: TerminalEnvironment, probe: TerminalProbe.Result) {
        let replies = probe.replies
        self.init(
            graphics: Self.graphics(environment: environment, probe: probe),
            colorRegisters: Self.colorRegisters(replies.colorRegisters),
            cellPixelSize: Self.cellPixelSize(probe),
            columns: probe.windowSize?.columns,
            rows: probe.windowSize?.rows,
            sixelDisplayMode: replies.sixelDisplayMode ?? false
        )
    }

    // MARK: Decisions

    private static func graphics(
        environment: TerminalEnvironment, probe: TerminalProbe.Result
    ) -> GraphicsMode {
        let replies = probe.replies
        guard probe.outputIsTerminal else { return .none }
        if replies.kittyGraphics == .ok { return .kitty }
        if replies.hasSixel { return .sixel }
        if environment.term == "dumb" { return .none }
        if environment.term == nil && !replies.receivedDeviceAttributes { return .none }
        if environment.claimsTruecolor { return .truecolor }
        if environment.claims256Colors { return .color256 }
        if let terminfo = environment.terminfo, (terminfo.colors ?? 0) < 8 { return .none }
        return .color256
    }

    private static func colorRegisters(_ reply: TerminalReplies.ColorRegisters?) -> Int {
        if case .count(let count)? = reply, count > 0 { return count }
        return defaultColorRegisters
    }

    /// `TIOCGWINSZ` pixels over cells first, then the `CSI 16 t` reply, then the `CSI 14 t`
    /// text area over the cells.
    private static func cellPixelSize(_ probe: TerminalProbe.Result) -> PixelSize? {
        if let window = probe.windowSize, window.pixelWidth > 0, window.pixelHeight > 0 {
            return PixelSize(width: window.pixelWidth / window.columns,
                             height: window.pixelHeight / window.rows)
        }
        if let cell = probe.replies.cellPixelSize {
            return cell
        }
        if let area = probe.replies.windowPixelSize, let window = probe.windowSize {
            return PixelSize(width: area.width / window.columns, height: area.height / window.rows)
        }
        return nil
    }
}
