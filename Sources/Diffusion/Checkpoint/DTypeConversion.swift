import CKernels
import Parallel

// Float32 from the stored element types. Sources are read unaligned (a safetensors header need not
// leave the data 4-byte aligned) and little-endian, as safetensors stores them on every platform
// stipple runs on. Each conversion is exact; the loops are branch-free so the compiler vectorises them.

/// out[i] = src[i], src F32: count x 4 bytes.
func copyFloat32(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: count * 4)
}

/// out[i] = Float(src[i]), src IEEE half: count x 2 bytes. F16C's conversion where the CPU has it,
/// else a branch-free bit recipe (`stipple_f16_to_f32` in CKernels).
func convertFloat16(_ out: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ count: Int) {
    stipple_f16_to_f32(out, src, count)
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

/// out[i] = src[i] as IEEE half, rounded to nearest even (overflow to infinity, NaN stays NaN):
/// adding a power of two scaled to the value's exponent lets the FPU do the rounding, branch-free.
func narrowToFloat16(_ out: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, _ count: Int) {
    for i in 0..<count {
        let value = src[i]
        let bits = value.bitPattern
        let doubled = bits &+ bits
        let sign = bits & 0x8000_0000
        let bias = max(doubled & 0xFF00_0000, 0x7100_0000)
        let base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + (abs(value) * 0x1p112) * 0x1p-110
        let rounded = base.bitPattern
        let magnitude = ((rounded >> 13) & 0x7C00) &+ (rounded & 0x0FFF)
        out[i] = UInt16(truncatingIfNeeded: (sign >> 16) | (doubled > 0xFF00_0000 ? 0x7E00 : magnitude))
    }
}

/// out[i] = src[i] as bfloat16, rounded to nearest even; NaN stays NaN (quiet).
func narrowToBFloat16(_ out: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, _ count: Int) {
    for i in 0..<count {
        let bits = src[i].bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let isNaN = (bits & 0x7FFF_FFFF) > 0x7F80_0000
        out[i] = UInt16(truncatingIfNeeded: isNaN ? (bits >> 16) | 0x40 : rounded)
    }
}
