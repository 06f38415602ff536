import Testing
@testable import Terminal

// Each terminal's environment is what it set in the captures on Debian 12 (xterm: TERM=xterm;
// mlterm: TERM=mlterm; kitty: TERM=xterm-kitty, COLORTERM=truecolor, KITTY_WINDOW_ID; tmux:
// TERM=tmux-256color, TMUX, TERM_PROGRAM=tmux), with terminfo values from `infocmp -x`.
@Suite("Terminal capabilities")
struct TerminalCapabilitiesTests {
    static let xtermTerminfo = TerminalEnvironment.Terminfo(colors: 8)
    static let xterm = TerminalEnvironment(variables: ["TERM": "xterm"], terminfo: xtermTerminfo)
    static let tmux = TerminalEnvironment(
        variables: ["TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/cap,1,0", "TERM_PROGRAM": "tmux"],
        terminfo: .init(colors: 256))
    static let kitty = TerminalEnvironment(
        variables: ["TERM": "xterm-kitty", "COLORTERM": "truecolor", "KITTY_WINDOW_ID": "1"],
        terminfo: .init(hasTc: true, colors: 256))

    // MARK: Real terminals

    @Test("xterm -ti vt340: sixel, 1024 registers, cell size from TIOCGWINSZ")
    func xtermVT340() {
        let capabilities = TerminalCapabilities(
            environment: Self.xterm, probe: Fixture.xtermVT340.probeResult)
        #expect(capabilities == TerminalCapabilities(
            graphics: .sixel, colorRegisters: 1024,
            cellPixelSize: PixelSize(width: 6, height: 13), columns: 80, rows: 24))
    }

    @Test("plain xterm: 256-colour half-blocks, or truecolor when COLORTERM says so")
    func xterm() {
        let plain = TerminalCapabilities(environment: Self.xterm, probe: Fixture.xterm.probeResult)
        #expect(plain.graphics == .color256)
        #expect(plain.colorRegisters == TerminalCapabilities.defaultColorRegisters)  // status 3
        #expect(plain.cellPixelSize == PixelSize(width: 6, height: 13))

        let truecolor = TerminalEnvironment(
            variables: ["TERM": "xterm", "COLORTERM": "truecolor"], terminfo: Self.xtermTerminfo)
        #expect(TerminalCapabilities(environment: truecolor, probe: Fixture.xterm.probeResult)
            .graphics == .truecolor)
    }

    @Test("tmux 3.3 inside a sixel xterm: no sixel")
    func tmux() {
        let capabilities = TerminalCapabilities(
            environment: Self.tmux, probe: Fixture.tmux33.probeResult)
        #expect(capabilities == TerminalCapabilities(
            graphics: .color256, colorRegisters: 256,
            cellPixelSize: PixelSize(width: 6, height: 13), columns: 80, rows: 23))
    }

    @Test("mlterm: sixel")
    func mlterm() {
        let capabilities = TerminalCapabilities(
            environment: TerminalEnvironment(variables: ["TERM": "mlterm"],
                                             terminfo: .init(colors: 8)),
            probe: Fixture.mlterm.probeResult)
        #expect(capabilities == TerminalCapabilities(
            graphics: .sixel, colorRegisters: 1024,
            cellPixelSize: PixelSize(width: 10, height: 22), columns: 80, rows: 24))
    }

    @Test("kitty: the kitty protocol")
    func kitty() {
        let capabilities = TerminalCapabilities(
            environment: Self.kitty, probe: Fixture.kitty.probeResult)
        #expect(capabilities == TerminalCapabilities(
            graphics: .kitty, colorRegisters: 256,
            cellPixelSize: PixelSize(width: 9, height: 20), columns: 71, rows: 20))
    }

    // MARK: The order of preference

    @Test("kitty beats sixel when a terminal answers both")
    func kittyOverSixel() {
        let both = TerminalProbe.Result(
            outputIsTerminal: true, queried: true,
            replies: TerminalReplyParser.parse(bytes("␛_Gi=31;OK␛\\␛[?65;4c")))
        #expect(TerminalCapabilities(environment: Self.kitty, probe: both).graphics == .kitty)
    }

    @Test("a kitty error is no kitty")
    func kittyError() {
        let failed = TerminalProbe.Result(
            outputIsTerminal: true, queried: true,
            replies: TerminalReplyParser.parse(bytes("␛_Gi=31;EINVAL:bad␛\\␛[?62c")))
        #expect(TerminalCapabilities(environment: Self.kitty, probe: failed).graphics == .truecolor)
    }

    @Test("sixel only from DA1: never guessed from the environment, granted inside tmux if DA1 says 4")
    func sixelOnlyFromDeviceAttributes() {
        let wezTermInTmux = TerminalEnvironment(variables: [
            "TERM": "tmux-256color", "TMUX": "x", "TERM_PROGRAM": "WezTerm",
        ])
        let tmuxAnswer = TerminalProbe.Result(
            outputIsTerminal: true, queried: true, replies: TerminalReplies(deviceAttributes: [1, 2]))
        #expect(TerminalCapabilities(environment: wezTermInTmux, probe: tmuxAnswer).graphics
            == .truecolor)

        let sixelTmux = TerminalProbe.Result(
            outputIsTerminal: true, queried: true,
            replies: TerminalReplies(deviceAttributes: [65, 1, 4]))
        #expect(TerminalCapabilities(environment: Self.tmux, probe: sixelTmux).graphics == .sixel)
    }

    @Test("truecolor signals", arguments: [
        ["TERM": "xterm", "COLORTERM": "truecolor"],
        ["TERM": "xterm", "COLORTERM": "24bit"],
        ["TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"],
        ["TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"],
        ["TERM": "xterm-256color", "TERM_PROGRAM": "vscode"],
        ["TERM": "xterm", "TERM_PROGRAM": "mintty"],
        ["TERM": "xterm-kitty"],
        ["TERM": "xterm", "KITTY_WINDOW_ID": "3"],
        ["TERM": "xterm-direct"],
    ])
    func truecolorSignals(_ variables: [String: String]) {
        let environment = TerminalEnvironment(variables: variables)
        #expect(environment.claimsTruecolor)
        #expect(TerminalCapabilities(environment: environment, probe: Self.noReply).graphics
            == .truecolor)
    }

    @Test("truecolor from terminfo RGB or Tc")
    func truecolorFromTerminfo() {
        for terminfo in [TerminalEnvironment.Terminfo(hasRGB: true, colors: 16_777_216),
                         TerminalEnvironment.Terminfo(hasTc: true, colors: 256)] {
            let environment = TerminalEnvironment(variables: ["TERM": "x"], terminfo: terminfo)
            #expect(TerminalCapabilities(environment: environment, probe: Self.noReply).graphics
                == .truecolor)
        }
    }

    @Test("256 colours from terminfo or TERM; fallback for other terminals")
    func color256() {
        let byName = TerminalEnvironment(variables: ["TERM": "screen-256color"])
        let byTerminfo = TerminalEnvironment(variables: ["TERM": "foot"], terminfo: .init(colors: 256))
        let unknown = TerminalEnvironment(variables: ["TERM": "some-new-terminal"])
        for environment in [byName, byTerminfo, unknown, Self.xterm] {
            #expect(TerminalCapabilities(environment: environment, probe: Self.noReply).graphics
                == .color256)
        }
    }

    @Test("none: not a terminal, dumb, no TERM, monochrome terminfo")
    func none() {
        let kittyButPiped = TerminalProbe.Result(outputIsTerminal: false, queried: false)
        #expect(TerminalCapabilities(environment: Self.kitty, probe: kittyButPiped).graphics == .none)

        let dumb = TerminalEnvironment(variables: ["TERM": "dumb", "COLORTERM": "truecolor"])
        #expect(TerminalCapabilities(environment: dumb, probe: Self.noReply).graphics == .none)

        let unset = TerminalEnvironment(variables: [:])
        #expect(TerminalCapabilities(environment: unset, probe: Self.noReply).graphics == .none)
        #expect(TerminalCapabilities(environment: unset, probe: Fixture.xterm.probeResult).graphics
            == .color256)  // no TERM, but a terminal answered

        let vt100 = TerminalEnvironment(variables: ["TERM": "vt100"], terminfo: .init())
        #expect(TerminalCapabilities(environment: vt100, probe: Self.noReply).graphics == .none)
    }

    @Test("no DA1 within the timeout: the environment decides")
    func timedOut() {
        #expect(Self.noReply.timedOut)
        let environment = TerminalEnvironment(variables: ["TERM": "xterm-256color"])
        #expect(TerminalCapabilities(environment: environment, probe: Self.noReply)
            == TerminalCapabilities(graphics: .color256, colorRegisters: 256,
                                    cellPixelSize: nil, columns: 100, rows: 30))
    }

    // MARK: Cell size

    @Test("cell size: TIOCGWINSZ, else CSI 16 t, else CSI 14 t over cells, else unknown")
    func cellSizeFallbacks() {
        let noPixels = TerminalProbe.WindowSize(columns: 80, rows: 24)
        var probe = Fixture.xtermVT340WindowOps.probeResult
        #expect(TerminalCapabilities(environment: Self.xterm, probe: probe).cellPixelSize
            == PixelSize(width: 6, height: 13))

        probe.windowSize = noPixels
        probe.replies.cellPixelSize = PixelSize(width: 7, height: 15)
        #expect(TerminalCapabilities(environment: Self.xterm, probe: probe).cellPixelSize
            == PixelSize(width: 7, height: 15))

        probe.replies.cellPixelSize = nil  // 480×312 over 80×24
        #expect(TerminalCapabilities(environment: Self.xterm, probe: probe).cellPixelSize
            == PixelSize(width: 6, height: 13))

        probe.replies.windowPixelSize = nil
        #expect(TerminalCapabilities(environment: Self.xterm, probe: probe).cellPixelSize == nil)
    }

    // MARK: The environment and terminfo

    @Test("the environment reads its variables, ignoring empty ones")
    func environmentVariables() {
        let environment = TerminalEnvironment(variables: [
            "TERM": "xterm-256color", "COLORTERM": "", "TERM_PROGRAM": "WezTerm",
            "KITTY_WINDOW_ID": "2", "TMUX": "/tmp/tmux-0/default,1,0",
        ])
        #expect(environment.term == "xterm-256color")
        #expect(environment.colorTerm == nil)
        #expect(environment.termProgram == "WezTerm")
        #expect(environment.kittyWindowID == "2")
        #expect(environment.insideTmux)
        #expect(environment.terminfo == nil)
        #expect(!TerminalEnvironment(variables: ["TMUX": ""]).insideTmux)
    }

    // Expected values from `infocmp -x xterm-256color xterm-direct xterm-kitty dumb` (ncurses 6.4).
    @Test("terminfo through ncurses")
    func terminfo() {
        #expect(TerminalEnvironment.lookUpTerminfo(term: "xterm-256color")
            == .init(hasRGB: false, hasTc: false, colors: 256))
        #expect(TerminalEnvironment.lookUpTerminfo(term: "xterm-direct")
            == .init(hasRGB: true, hasTc: false, colors: 16_777_216))
        #expect(TerminalEnvironment.lookUpTerminfo(term: "xterm-kitty")
            == .init(hasRGB: false, hasTc: true, colors: 256))
        #expect(TerminalEnvironment.lookUpTerminfo(term: "dumb") == .init(colors: nil))
        #expect(TerminalEnvironment.lookUpTerminfo(term: "no-such-terminal-here") == nil)
        #expect(TerminalEnvironment.lookUpTerminfo(term: "") == nil)
    }

    @Test("detect on a dumb terminal sends nothing and shows nothing")
    func detectDumb() {
        let capabilities = TerminalCapabilities.detect(
            environment: TerminalEnvironment(variables: ["TERM": "dumb"]))
        #expect(capabilities.graphics == .none)
    }

    /// Queried on a 100×30 terminal, nothing came back.
    static let noReply = TerminalProbe.Result(
        outputIsTerminal: true, queried: true,
        windowSize: TerminalProbe.WindowSize(columns: 100, rows: 30))
}
