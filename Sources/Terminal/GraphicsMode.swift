/// How a terminal can show an image, best first.
public enum GraphicsMode: String, Sendable, CaseIterable, Comparable {
    /// DEC sixel graphics: real pixels.
    case sixel
    /// The kitty graphics protocol: real pixels, sent as PNG.
    case kitty
    /// `▀` half-blocks with 24-bit colours.
    case truecolor
    /// `▀` half-blocks with the xterm 256-colour palette.
    case color256 = "256"
    /// No colour at all: images cannot be shown.
    case none

    private var rank: Int {
        switch self {
        case .sixel: 4
        case .kitty: 5
        case .truecolor: 3
        case .color256: 2
        case .none: 1
        }
    }

    public static func < (a: GraphicsMode, b: GraphicsMode) -> Bool { a.rank < b.rank }
}
