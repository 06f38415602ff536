/// The escape sequences stipple sends to a terminal, named in one place: the studio, the command
/// line and the image encoders all take their bytes from here (module `TerminalBytes`, which has no
/// dependencies so that Imaging can use it; `Terminal` re-exports it). Parameterised sequences
/// are functions. See docs/DECISIONS.md, "One home for terminal bytes".
///
/// `ESC` is 0x1B, `CSI` is `ESC [`, `DCS` is `ESC P`, `APC` is `ESC _`, `ST` (string terminator)
/// is `ESC \`.
public enum EscapeSequence {
    /// The escape byte, 0x1B.
    public static let escape: UInt8 = 0x1B

    /// `ESC` as text.
    static let escapeCharacter = "\u{1B}"

    /// `ESC [`: control sequence introducer.
    public static let controlSequenceIntroducer = escapeCharacter + "["

    /// `ESC P`: device control string introducer (sixel data).
    public static let deviceControlString = escapeCharacter + "P"

    /// `ESC _`: application program command introducer (kitty graphics).
    public static let applicationProgramCommand = escapeCharacter + "_"

    /// `ESC \`: string terminator, ends DCS, OSC and APC strings.
    public static let stringTerminator = escapeCharacter + "\\"

    // MARK: Screen and input modes

    /// ED 2, erase the whole screen: `CSI 2 J` (images the terminal holds go with it).
    public static let clearScreen = controlSequenceIntroducer + "2J"

    /// CUP to the top-left cell: `CSI H`.
    public static let cursorHome = controlSequenceIntroducer + "H"

    /// CUP to a cell, given 0-based (`CSI row+1 ; column+1 H`, the sequence counts from 1).
    public static func cursorPosition(row: Int, column: Int) -> String {
        controlSequenceIntroducer + "\(row + 1);\(column + 1)H"
    }

    /// CUU, the cursor `rows` rows up: `CSI rows A`.
    public static func cursorUp(_ rows: Int) -> String {
        controlSequenceIntroducer + "\(rows)A"
    }

    /// EL 0, erase from the cursor to the end of the line: `CSI K`.
    public static let eraseToLineEnd = controlSequenceIntroducer + "K"

    /// DECSC / DECRC, save and restore the cursor (position and attributes): `ESC 7`, `ESC 8`.
    public static let saveCursor = escapeCharacter + "7"
    public static let restoreCursor = escapeCharacter + "8"

    /// SGR 0, `CSI 0 m`: all attributes and colours back to the terminal's defaults.
    public static let resetAttributes = controlSequenceIntroducer + "0m"

    /// DECTCEM on: show the cursor, `CSI ? 25 h`.
    public static let showCursor = controlSequenceIntroducer + "?25h"

    /// Leave the alternate screen (DECRST 1049): `CSI ? 1049 l`.
    public static let leaveAlternateScreen = controlSequenceIntroducer + "?1049l"

    /// Bracketed paste on / off (DECSET / DECRST 2004): pasted text arrives between
    /// `CSI 200 ~` and `CSI 201 ~`, so it is inserted, never run as keys.
    public static let bracketedPasteOn = controlSequenceIntroducer + "?2004h"
    public static let bracketedPasteOff = controlSequenceIntroducer + "?2004l"

    /// The marker after pasted text while bracketed paste is on (`CSI 200 ~` comes before it).
    public static let pasteEnd = controlSequenceIntroducer + "201~"

    // MARK: Images

    /// The start of a sixel image: DCS with parameters 0;1;0 (P2 = 1: unpainted pixels keep the
    /// background), then `q`. The image ends with `stringTerminator`.
    public static let sixelStart = deviceControlString + "0;1;0q"

    /// The start of a kitty graphics command, `APC G`; its keys, `;`, payload and `ST` follow.
    public static let kittyGraphicsStart = applicationProgramCommand + "G"

    /// Deletes every kitty image placement and its data (`a=d,d=A`).
    public static let kittyDeleteAllImages = kittyGraphicsStart + "a=d,d=A" + stringTerminator

    // MARK: Capability queries

    /// DA1, primary device attributes: `CSI c`.
    ///
    /// Every VT-compatible terminal answers `CSI ? Ps ; ... c`; attribute 4 means sixel graphics.
    /// Sent last by the probe: terminals answer in order, so its reply means all others are in.
    public static let primaryDeviceAttributesQuery = controlSequenceIntroducer + "c"

    /// XTSMGRAPHICS, read the number of sixel colour registers: `CSI ? 1 ; 1 ; 0 S`.
    ///
    /// Answered with `CSI ? 1 ; status ; count S`, status 0 meaning success.
    public static let colorRegistersQuery = controlSequenceIntroducer + "?1;1;0S"

    /// XTWINOPS 16, report the cell size in pixels: `CSI 16 t`, answered `CSI 6 ; height ; width t`.
    public static let cellPixelSizeQuery = controlSequenceIntroducer + "16t"

    /// XTWINOPS 14, report the text area size in pixels: `CSI 14 t`, answered `CSI 4 ; height ; width t`.
    public static let windowPixelSizeQuery = controlSequenceIntroducer + "14t"

    /// DECRQM for DECSDM (mode 80, sixel display mode): `CSI ? 80 $ p`, answered
    /// `CSI ? 80 ; Ps $ y` (1 set, 2 reset, 3 permanently set, 4 permanently reset, 0 unknown).
    /// Set means sixel images go to the top-left corner and never scroll (xterm's
    /// `sixelScrolling: false`); reset, the default, puts them at the cursor.
    public static let sixelDisplayModeQuery = controlSequenceIntroducer + "?80$p"

    /// Sixel display mode off / on (DECRST / DECSET 80).
    public static let sixelDisplayModeOff = controlSequenceIntroducer + "?80l"
    public static let sixelDisplayModeOn = controlSequenceIntroducer + "?80h"

    /// The image id the kitty graphics query uses; the reply carries it back as `i=31`.
    public static let kittyQueryImageID = 31

    /// A kitty graphics protocol query (`a=q`): a one-pixel RGB image sent directly, never stored.
    ///
    /// A kitty-protocol terminal answers `ESC _ G i=31 ; OK ESC \` (or an error text);
    /// other terminals ignore the APC string.
    public static let kittyGraphicsQuery =
        kittyGraphicsStart + "i=\(kittyQueryImageID),s=1,v=1,a=q,t=d,f=24;AAAA" + stringTerminator

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

    // MARK: As bytes

    /// The sequences the image encoders and the key decoder use, as bytes, made once.
    public enum Bytes {
        public static let controlSequenceIntroducer = Array(EscapeSequence.controlSequenceIntroducer.utf8)
        public static let stringTerminator = Array(EscapeSequence.stringTerminator.utf8)
        public static let resetAttributes = Array(EscapeSequence.resetAttributes.utf8)
        public static let sixelStart = Array(EscapeSequence.sixelStart.utf8)
        public static let kittyGraphicsStart = Array(EscapeSequence.kittyGraphicsStart.utf8)
        public static let pasteEnd = Array(EscapeSequence.pasteEnd.utf8)
    }
}
