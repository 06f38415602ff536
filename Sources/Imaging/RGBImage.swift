/// An 8-bit image, RGB or RGBA, stored as one contiguous row-major array of interleaved channels.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels (at least 1).
    public let width: Int
    /// Height in pixels (at least 1).
    public let height: Int
    /// True when every pixel carries a fourth, alpha, byte.
    public let hasAlpha: Bool
    /// Interleaved samples, `width * height * channels` bytes, top row first.
    public var pixels: [UInt8]

    /// Bytes per pixel: 3 for RGB, 4 for RGBA.
    @inlinable public var channels: Int { hasAlpha ? 4 : 3 }

    /// An image over existing samples; `pixels.count` must be `width * height * channels`.
    public init(width: Int, height: Int, hasAlpha: Bool = false, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive")
        precondition(pixels.count == width * height * (hasAlpha ? 4 : 3), "pixel buffer size does not match dimensions")
        self.width = width
        self.height = height
        self.hasAlpha = hasAlpha
        self.pixels = pixels
    }

    /// An image filled with one colour (alpha 255 when `hasAlpha`).
    public init(width: Int, height: Int, hasAlpha: Bool = false, fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        let channels = hasAlpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for i in stride(from: 0, to: pixels.count, by: channels) {
            pixels[i] = fill.r
            pixels[i + 1] = fill.g
            pixels[i + 2] = fill.b
            if hasAlpha { pixels[i + 3] = 255 }
        }
        self.init(width: width, height: height, hasAlpha: hasAlpha, pixels: pixels)
    }

    /// The samples of pixel (x, y): r, g, b and a (255 when the image has no alpha).
    @inlinable public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        let i = (y * width + x) * channels
        return (pixels[i], pixels[i + 1], pixels[i + 2], hasAlpha ? pixels[i + 3] : 255)
    }

    /// The same image without alpha, composited over `background`.
    public func flattened(over background: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) -> RGBImage {
        guard hasAlpha else { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let bg = [UInt32(background.r), UInt32(background.g), UInt32(background.b)]
                for p in 0..<(width * height) {
                    let a = UInt32(src[p * 4 + 3])
                    for c in 0..<3 {
                        let v = UInt32(src[p * 4 + c]) * a + bg[c] * (255 - a)
                        dst[p * 3 + c] = UInt8((v + 127) / 255)
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, hasAlpha: false, pixels: out)
    }
}
