/// An image stored as palette indices, row-major, top row first; `transparent` marks pixels left unpainted.
public struct IndexedImage: Sendable, Equatable {
    /// The index value of a transparent pixel.
    public static let transparent: UInt16 = 0xFFFF

    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The colours `indices` refer to.
    public let palette: Palette
    /// One palette index per pixel (`width * height`), or `transparent`.
    public var indices: [UInt16]

    /// An indexed image over existing indices; `indices.count` must be `width * height`.
    public init(width: Int, height: Int, palette: Palette, indices: [UInt16]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive")
        precondition(indices.count == width * height, "index buffer size does not match dimensions")
        self.width = width
        self.height = height
        self.palette = palette
        self.indices = indices
    }

    /// The colours back as an RGBA image; transparent pixels become (0, 0, 0, 0).
    public func rgba() -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 4)
        for (p, index) in indices.enumerated() where index != IndexedImage.transparent {
            let c = palette[Int(index)]
            out[p * 4] = c.r
            out[p * 4 + 1] = c.g
            out[p * 4 + 2] = c.b
            out[p * 4 + 3] = 255
        }
        return RGBImage(width: width, height: height, hasAlpha: true, pixels: out)
    }
}
