/// A growable byte buffer for hot output loops: `reserve` once, then `putUnchecked` without checks.
struct ByteWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written so far.
    private(set) var count = 0

    /// An empty buffer with room for `capacity` bytes.
    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// Makes room for `extra` more bytes, at least doubling when it has to grow.
    @inline(__always) mutating func reserve(_ extra: Int) {
        if count + extra > capacity {
            grow(to: count + extra)
        }
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Appends one byte; the caller has reserved room.
    @inline(__always) mutating func putUnchecked(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    /// Appends a non-negative decimal number; the caller has reserved room for its digits.
    @inline(__always) mutating func putUnchecked(number: Int) {
        var digits = 1
        var rest = number / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var value = number
        for i in stride(from: count + digits - 1, through: count, by: -1) {
            base[i] = UInt8(truncatingIfNeeded: 48 + value % 10)
            value /= 10
        }
        count += digits
    }

    /// Appends one byte.
    mutating func put(_ byte: UInt8) {
        reserve(1)
        putUnchecked(byte)
    }

    /// Appends a non-negative decimal number.
    mutating func put(number: Int) {
        reserve(20)
        putUnchecked(number: number)
    }

    /// Appends bytes.
    mutating func put(_ bytes: [UInt8]) {
        reserve(bytes.count)
        for byte in bytes {
            putUnchecked(byte)
        }
    }

    /// The bytes written, as an array.
    func bytes() -> [UInt8] {
        [UInt8](UnsafeBufferPointer(start: base, count: count))
    }
}
