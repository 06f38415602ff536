/// What a terminal answered to the probe's queries; each field is nil when no reply arrived.
///
/// Produced by ``TerminalReplyParser``.
public struct TerminalReplies: Sendable, Equatable {
    /// The answer to the XTSMGRAPHICS colour-register read (`CSI ? 1 ; status ; value S`).
    public enum ColorRegisters: Sendable, Equatable {
        /// Status 0: the terminal has this many sixel colour registers.
        case count(Int)
        /// A non-zero status (1 bad item, 2 bad action, 3 failure): the terminal has no sixel
        /// colour registers to report, or refuses to.
        case failed(status: Int)
    }

    /// The answer to the kitty graphics query (`ESC _ G i=31 ; message ESC \`).
    public enum KittyGraphics: Sendable, Equatable {
        /// The message was `OK`: the kitty graphics protocol works.
        case ok
        /// Any other message, usually an error code and text (`ENOTSUPPORTED:...`).
        case error(String)
    }

    /// The DA1 parameters in order (`CSI ? 63 ; 1 ; 2 ; 4 c` gives `[63, 1, 2, 4]`), empty
    /// parameters left out; the first is the terminal's class, the rest its attributes.
    public var deviceAttributes: [Int]?
    /// The sixel colour-register reply.
    public var colorRegisters: ColorRegisters?
    /// The cell size from the `CSI 16 t` reply (`CSI 6 ; height ; width t`).
    public var cellPixelSize: PixelSize?
    /// The text area size from the `CSI 14 t` reply (`CSI 4 ; height ; width t`).
    public var windowPixelSize: PixelSize?
    /// The kitty graphics reply to the query with image id 31.
    public var kittyGraphics: KittyGraphics?
    /// Whether sixel display mode (DECSDM) is set, from the DECRQM reply; nil when the terminal
    /// did not say.
    public var sixelDisplayMode: Bool?

    /// Nothing received yet.
    public init(
        deviceAttributes: [Int]? = nil,
        colorRegisters: ColorRegisters? = nil,
        cellPixelSize: PixelSize? = nil,
        windowPixelSize: PixelSize? = nil,
        kittyGraphics: KittyGraphics? = nil,
        sixelDisplayMode: Bool? = nil
    ) {
        self.deviceAttributes = deviceAttributes
        self.colorRegisters = colorRegisters
        self.cellPixelSize = cellPixelSize
        self.windowPixelSize = windowPixelSize
        self.kittyGraphics = kittyGraphics
        self.sixelDisplayMode = sixelDisplayMode
    }

    /// Whether the DA1 reply, the probe's sentinel, arrived; the terminal answers in order,
    /// so once it is here every reply that is coming has come.
    public var receivedDeviceAttributes: Bool { deviceAttributes != nil }

    /// Whether DA1 lists attribute 4, sixel graphics (the first parameter is the terminal's
    /// class, not an attribute, so it does not count).
    public var hasSixel: Bool { deviceAttributes?.dropFirst().contains(4) ?? false }
}
