/// How colours that fall between palette entries are approximated when an image is mapped to a palette.
public enum Dither: String, Sendable, CaseIterable {
    /// Each pixel takes its nearest palette colour: flat areas stay flat, gradients may band.
    case none
    /// An 8x8 Bayer threshold matrix (mirrored differently per channel) nudges each pixel before the
    /// lookup, scaled to the palette's spacing near it. The result at a pixel depends only on its
    /// colour and position, so consecutive frames of a live preview do not shimmer.
    case ordered
    /// Floyd–Steinberg error diffusion along serpentine rows: the smoothest gradients, but a change
    /// anywhere can alter the pixels after it.
    case diffusion
}
