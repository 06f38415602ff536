/// The escape sequences stipple sends to a terminal, named in one place.
///
/// `ESC` is 0x1B, `CSI` is `ESC [`, `APC` is `ESC _`, `ST` (string terminator) is `ESC \`.
public enum EscapeSequence {
    /// The escape byte, 0x1B.
    public static let escape: UInt8 = 0x1B

    /// `ESC [`: control sequence introducer.
    public static let controlSequenceIntroducer = "\u{1B}["

    /// `ESC \`: string terminator, ends DCS, OSC and APC strings.
    public static let stringTerminator = "\u{1B}\\"

    // MARK: Screen and input modes

    /// ED 2, erase the whole screen: `CSI 2 J` (images the terminal holds go with it).
    public static let clearScreen = "\u{1B}[2J"

    /// CUP to the top-left cell: `CSI H`.
    public static let cursorHome = "\u{1B}[H"

    /// Bracketed paste on / off (DECSET / DECRST 2004): pasted text arrives between
    /// `CSI 200 ~` and `CSI 201 ~`, so it is inserted, never run as keys.
    public static let bracketedPasteOn = "\u{1B}[?2004h"
    public static let bracketedPasteOff = "\u{1B}[?2004l"

    // MARK: Capability queries

    /// DA1, primary device attributes: `CSI c`.
    ///
    /// Every VT-compatible terminal answers `CSI ? Ps ; ... c`; attribute 4 means sixel graphics.
    /// Sent last by the probe: terminals answer in order, so its reply means all others are in.
    public static let primaryDeviceAttributesQuery = "\u{1B}[c"

    /// XTSMGRAPHICS, read the number of sixel colour registers: `CSI ? 1 ; 1 ; 0 S`.
    ///
    /// Answered with `CSI ? 1 ; status ; count S`, status 0 meaning success.
    public static let colorRegistersQuery = "\u{1B}[?1;1;0S"

    /// XTWINOPS 16, report the cell size in pixels: `CSI 16 t`, answered `CSI 6 ; height ; width t`.
    public static let cellPixelSizeQuery = "\u{1B}[16t"

    /// XTWINOPS 14, report the text area size in pixels: `CSI 14 t`, answered `CSI 4 ; height ; width t`.
    public static let windowPixelSizeQuery = "\u{1B}[14t"

    /// DECRQM for DECSDM (mode 80, sixel display mode): `CSI ? 80 $ p`, answered
    /// `CSI ? 80 ; Ps $ y` (1 set, 2 reset, 3 permanently set, 4 permanently reset, 0 unknown).
    /// Set means sixel images go to the top-left corner and never scroll (xterm's
    /// `sixelScrolling: false`); reset, the default, puts them at the cursor.
    public static let sixelDisplayModeQuery = "\u{1B}[?80$p"

    /// Sixel display mode off / on (DECRST / DECSET 80).
    public static let sixelDisplayModeOff = "\u{1B}[?80l"
    public static let sixelDisplayModeOn = "\u{1B}[?80h"

    /// The image id the kitty graphics query uses; the reply carries it back as `i=31`.
    public static let kittyQueryImageID = 31

    /// A kitty graphics protocol query (`a=q`): a one-pixel RGB image sent directly, never stored.
    ///
    /// A kitty-protocol terminal answers `ESC _ G i=31 ; OK ESC \` (or an error text);
    /// other terminals ignore the APC string.
    public static let kittyGraphicsQuery =
        "\u{1B}_Gi=\(kittyQueryImageID),s=1,v=1,a=q,t=d,f=24;AAAA\u{1B}\\"

    /// Every probe query in one string, DA1 last as the sentinel.
    ///
    /// - Parameter includingKitty: whether to send the kitty graphics query; leave it out on
    ///   terminals that print unknown APC strings (the Linux console).
    public static func probeQueries(includingKitty: Bool = true) -> String {
        colorRegistersQuery
            + cellPixelSizeQuery
            + windowPixelSizeQuery
            + (includingKitty ? kittyGraphicsQuery : "")
            + sixelDisplayModeQuery
            + primaryDeviceAttributesQuery
    }
}
