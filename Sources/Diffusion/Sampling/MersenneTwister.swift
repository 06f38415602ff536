/// MT19937, the 32-bit Mersenne Twister of Matsumoto and Nishimura (1998), written from its
/// published definition: 624 words of state, initialised from a 32-bit seed with the multiplier
/// 1812433253 (the 2002 `init_genrand`), regenerated 624 words at a time, tempered on output.
/// The first output for seed 5489 is 3499211612.
struct MersenneTwister: Sendable {
    private static let n = 624
    private static let m = 397
    private static let matrixA: UInt32 = 0x9908_B0DF
    private static let upperMask: UInt32 = 0x8000_0000
    private static let lowerMask: UInt32 = 0x7FFF_FFFF

    private var state: [UInt32]
    /// The next word of `state` to temper; `n` means the state must be regenerated first.
    private var index: Int

    /// The generator `init_genrand(seed)` gives.
    init(seed: UInt32) {
        var state = [UInt32](repeating: 0, count: Self.n)
        state[0] = seed
        for i in 1..<Self.n {
            let previous = state[i - 1]
            state[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
        self.state = state
        self.index = Self.n
    }

    /// The next 32-bit output.
    @inline(__always)
    mutating func next() -> UInt32 {
        if index == Self.n { regenerate() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// The next 32-bit outputs, written to `output` in order.
    mutating func fill(_ output: UnsafeMutableBufferPointer<UInt32>) {
        var written = 0
        while written < output.count {
            if index == Self.n { regenerate() }
            let count = min(Self.n - index, output.count - written)
            state.withUnsafeBufferPointer { state in
                for k in 0..<count {
                    var y = state[index + k]
                    y ^= y >> 11
                    y ^= (y << 7) & 0x9D2C_5680
                    y ^= (y << 15) & 0xEFC6_0000
                    y ^= y >> 18
                    output[written + k] = y
                }
            }
            index += count
            written += count
        }
    }

    /// The twist: state[k] = state[k + m] ^ (y >> 1) ^ (y odd ? matrixA : 0), with y the upper bit
    /// of state[k] and the lower 31 bits of state[k + 1] (indices mod n).
    private mutating func regenerate() {
        state.withUnsafeMutableBufferPointer { s in
            for k in 0..<Self.n {
                let y = (s[k] & Self.upperMask) | (s[(k + 1) % Self.n] & Self.lowerMask)
                s[k] = s[(k + Self.m) % Self.n] ^ (y >> 1) ^ ((y & 1) &* Self.matrixA)
            }
        }
        index = 0
    }
}
