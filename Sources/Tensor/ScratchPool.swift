/// Float32 scratch lent out for one call at a time: weights converted just before a kernel reads
/// them, and the kernels' own working buffers (im2col columns, Winograd's transformed tiles). A
/// model runs its layers one after another, so a generation keeps borrowing the same few buffers,
/// grown to the largest size each role meets and then never reallocated: no fresh pages to fault
/// in and zero on every layer. A caller that runs at the same time as another (a second model,
/// a kernel's worker threads) borrows another buffer, never one that is lent.
public final class ScratchPool: Sendable {
    /// The process's pool.
    public static let shared = ScratchPool()

    private final class Buffer: @unchecked Sendable {  // used by one borrower at a time
        var pointer: UnsafeMutablePointer<Float>?
        var capacity = 0

        func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
            if let pointer, capacity >= count { return pointer }
            pointer?.deallocate()
            let fresh = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer = fresh
            capacity = count
            return fresh
        }

        deinit { pointer?.deallocate() }
    }

    private let idle = Locked<[Buffer]>([])

    public init() {}

    /// Runs `body` with a buffer of at least `count` floats that nobody else uses meanwhile: the
    /// smallest idle one that is large enough, else the largest idle one grown to `count` (so
    /// buffers keep their roles rather than all growing to the largest size).
    public func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let buffer = idle.withLock { buffers -> Buffer in
            let largeEnough = buffers.indices.filter { buffers[$0].capacity >= count }
            let chosen = largeEnough.min { buffers[$0].capacity < buffers[$1].capacity }
                ?? buffers.indices.max { buffers[$0].capacity < buffers[$1].capacity }
            return chosen.map { buffers.remove(at: $0) } ?? Buffer()
        }
        defer { idle.withLock { $0.append(buffer) } }
        return body(buffer.reserve(max(1, count)))
    }

    /// Floats held by idle buffers (what the pool keeps between layers).
    public var idleFloats: Int {
        idle.withLock { $0.reduce(0) { $0 + $1.capacity } }
    }
}
