import TerminalBytes

/// Turns an image into a complete DEC sixel stream: quantise to at most 256 colours, map (optionally
/// dithered), then write bands of six rows with run-length coding. Pixels with alpha below 128 stay
/// transparent (the stream keeps the terminal background, P2 = 1).
public struct SixelEncoder: Sendable {
    /// How an image is reduced to sixel colour registers.
    public struct Settings: Sendable, Equatable {
        /// Most colour registers to define, 2...256 (256 is the safe limit for terminals).
        public var maxColors: Int
        /// How colours between palette entries are approximated; `.ordered` for live previews.
        public var dither: Dither

        /// Settings with the given limits.
        public init(maxColors: Int = 256, dither: Dither = .none) {
            self.maxColors = maxColors
            self.dither = dither
        }
    }

    /// The settings every `encode` call uses.
    public var settings: Settings

    /// An encoder with `settings`.
    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// The palette `encode(_:)` would choose for `image`; pass it to `encode(_:palette:)` to keep the
    /// colours of later frames the same.
    public func palette(for image: RGBImage) -> Palette {
        PaletteQuantizer(maxColors: settings.maxColors).palette(for: image)
    }

    /// The sixel stream for `image`, with a palette chosen for it.
    public func encode(_ image: RGBImage) -> [UInt8] {
        encode(image, palette: palette(for: image))
    }

    /// The sixel stream for `image` mapped onto a given palette (e.g. one kept across preview frames).
    /// Registers hold whole percents, so pixels are mapped onto the palette as the terminal will show
    /// it (`Palette.percentRounded`); palettes from `palette(for:)` are unchanged by that.
    public func encode(_ image: RGBImage, palette: Palette) -> [UInt8] {
        let shown = Palette(palette.colors.map(Palette.percentRounded))
        return encode(PaletteMapper(palette: shown).map(image, dither: settings.dither))
    }

    /// The sixel stream for an indexed image. Only registers that some pixel uses are defined,
    /// numbered from 0 in palette order; each colour is written as the nearest whole percents.
    public func encode(_ image: IndexedImage) -> [UInt8] {
        // 0 marks a used entry, -1 an unused one (and, in the spare last slot, transparency).
        var register = [Int32](repeating: -1, count: image.palette.count + 1)
        register.withUnsafeMutableBufferPointer { register in
            image.indices.withUnsafeBufferPointer { indices in
                guard let mark = register.baseAddress else { return }
                let transparent = image.palette.count
                for index in indices {
                    mark[min(Int(index), transparent)] = 0
                }
            }
        }
        register[image.palette.count] = -1
        var out = ByteWriter(capacity: 64 + image.palette.count * 20)
        out.put(SixelCode.start)
        out.put(SixelCode.rasterAttributes)
        out.put(number: 1)
        out.put(SixelCode.separator)
        out.put(number: 1)
        out.put(SixelCode.separator)
        out.put(number: image.width)
        out.put(SixelCode.separator)
        out.put(number: image.height)
        var next: Int32 = 0
        for (index, color) in image.palette.colors.enumerated() where register[index] == 0 {
            register[index] = next
            out.put(SixelCode.colorIntroducer)
            out.put(number: Int(next))
            out.put(SixelCode.separator)
            out.put(number: SixelCode.rgbColorSpace)
            for value in [color.r, color.g, color.b] {
                out.put(SixelCode.separator)
                out.put(number: Palette.percent(of: value))
            }
            next += 1
        }
        let header = out.bytes()
        let bands = SixelEncoder.encodeBands(image, registers: register)
        var result: [UInt8] = []
        result.reserveCapacity(header.count + bands.reduce(0) { $0 + $1.count } + SixelCode.end.count)
        result.append(contentsOf: header)
        for part in bands {
            result.append(contentsOf: part)
        }
        // Bands at the bottom with no painted pixel leave only `-`s, which would move (and maybe
        // scroll) the cursor for nothing: the raster attributes already give the height. (The header
        // ends in a digit, so this stops there at the latest.)
        while result.last == SixelCode.newLine {
            result.removeLast()
        }
        result.append(contentsOf: SixelCode.end)
        return result
    }
}

/// The bytes of the sixel protocol (DEC STD 070; VT330/VT340 Programmer Reference, chapter 14).
enum SixelCode {
    /// DCS `ESC P`, parameters 0;1;0 (P2 = 1: unpainted pixels keep the background), then `q`.
    static let start: [UInt8] = EscapeSequence.Bytes.sixelStart
    /// String terminator `ESC \`.
    static let end: [UInt8] = EscapeSequence.Bytes.stringTerminator
    /// `"Pan;Pad;Ph;Pv`: pixel aspect (1:1) and image size.
    static let rasterAttributes = UInt8(ascii: "\"")
    /// `#Pc` selects a register; `#Pc;Pu;Px;Py;Pz` defines it.
    static let colorIntroducer = UInt8(ascii: "#")
    /// Colour-space parameter Pu of RGB percent definitions (1 would be HLS).
    static let rgbColorSpace = 2
    /// `!Pn c` repeats sixel c Pn times.
    static let repeatIntroducer = UInt8(ascii: "!")
    /// `$` returns to the start of the current band (graphics carriage return).
    static let carriageReturn = UInt8(ascii: "$")
    /// `-` moves to the start of the next band (graphics new line).
    static let newLine = UInt8(ascii: "-")
    /// Parameter separator.
    static let separator = UInt8(ascii: ";")
    /// A data byte is 0x3F plus six bits, the top pixel of the band in the low bit.
    static let dataOffset: UInt8 = 0x3F
    /// Runs at least this long are written with `!`; shorter ones byte by byte (never longer).
    static let shortestRepeat = 4
}
