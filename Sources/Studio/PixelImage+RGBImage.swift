import Diffusion
import Imaging

// The one conversion between the engine's pixels (`PixelImage`, Diffusion) and the imaging
// library's (`RGBImage`, Imaging): both are 8-bit RGB, row-major, 3 bytes a pixel.

extension RGBImage {
    /// The engine's image as an `RGBImage` (the same bytes).
    public init(_ image: PixelImage) {
        self.init(width: image.width, height: image.height, pixels: image.rgb)
    }
}

extension PixelImage {
    /// An `RGBImage` as engine pixels, alpha (if any) flattened over `background` first.
    public init(_ image: RGBImage, over background: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        let opaque = image.flattened(over: background)
        self.init(width: opaque.width, height: opaque.height, rgb: opaque.pixels)
    }
}
