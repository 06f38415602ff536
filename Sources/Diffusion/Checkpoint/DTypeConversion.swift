import Parallel

// Float32 from the stored element types. Sources are read unaligned (a safetensors header need not
// leave the data 4-byte aligned) and little-endian, as safetensors stores them on every platform
// stipple runs on. Each conversion is exact; the loops are branch-free so the compiler vectorises them.

/// out[i] = src[i], src F32: count x 4 bytes.
func copyFloat32(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: count * 4)
}

/// out[i] = Float(src[i]), src IEEE half: count x 2 bytes. Normal and subnormal halves are the
/// magnitude bits moved to a Float's place (exponent then 112 too small) times 2^112, an exact
/// power-of-two scaling; infinities and NaNs (exponent all ones) get the Float exponent all ones.
func convertFloat16(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    for i in 0..<count {
        let half = UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        let sign = (half & 0x8000) << 16
        let magnitude = half & 0x7FFF
        let scaled = (Float(bitPattern: magnitude << 13) * 0x1p112).bitPattern
        let infOrNaN: UInt32 = magnitude >= 0x7C00 ? 0x7F80_0000 : 0
        out[i] = Float(bitPattern: scaled | infOrNaN | sign)
    }
}

/// out[i] = Float(src[i]), src bfloat16: count x 2 bytes, each the upper half of a Float's bits.
func convertBFloat16(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    for i in 0..<count {
        out[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
    }
}

#if !(os(macOS) && arch(x86_64))  // Float16 is unavailable on Intel Macs
/// Reference twin of `convertFloat16`: Swift's own Float16 -> Float conversion, one at a time.
func convertFloat16Reference(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    for i in 0..<count {
        out[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
    }
}
#endif

/// Elements per piece when a conversion is split over cores (4 MB of Float32 output).
let conversionChunkElements = 1 << 20

/// Runs `convert(out, src, count)` over pieces of `conversionChunkElements` elements, concurrently
/// (`parallelFor`, on the threads `--threads` allows) when there is more than one piece.
func convertInChunks(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, count: Int, elementSize: Int,
                     _ convert: @Sendable (UnsafeMutablePointer<Float>, UnsafeRawPointer, Int) -> Void) {
    let pieces = (count + conversionChunkElements - 1) / conversionChunkElements
    guard pieces > 1 else {
        convert(out, src, count)
        return
    }
    // Each piece writes only its own range of `out`.
    nonisolated(unsafe) let (out, src) = (out, src)
    parallelFor(pieces) { piece in
        let start = piece * conversionChunkElements
        convert(out + start, src + start * elementSize, min(conversionChunkElements, count - start))
    }
}
