import Imaging
import Terminal

/// The encoder a graphics mode draws with: the one place that maps a `GraphicsMode` to sixel,
/// kitty or half-block encoding. The studio's image pane and `ImagePresenter` (show, generate)
/// switch over this, only to size the image their own way: in pixels or in cells.
public enum ImageEncoding: Sendable {
    /// Sixel or kitty: the caller sizes the image in pixels, `encode` writes it whole.
    case pixels(encode: @Sendable (RGBImage) throws(PNGError) -> [UInt8])
    /// Half-blocks: the caller picks the columns, the encoder fits the image to them.
    case halfBlocks(HalfBlockEncoder)
    /// The mode draws no images.
    case unavailable

    public init(mode: GraphicsMode, sixel: SixelEncoder.Settings) {
        switch mode {
        case .sixel:
            let encoder = SixelEncoder(settings: sixel)
            self = .pixels { image throws(PNGError) in encoder.encode(image) }
        case .kitty:
            self = .pixels { image throws(PNGError) in try KittyGraphicsEncoder().encode(image) }
        case .truecolor:
            self = .halfBlocks(HalfBlockEncoder(colors: .truecolor))
        case .color256:
            self = .halfBlocks(HalfBlockEncoder(colors: .palette256))
        case .none:
            self = .unavailable
        }
    }
}
