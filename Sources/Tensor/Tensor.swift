#if canImport(Glibc)
import Glibc
#endif

/// A dense Float32 tensor: a shape and one contiguous row-major buffer (NCHW for images and
/// latents, [tokens, channels] for sequences). No autograd; kernels are free functions.
public struct Tensor: Sendable {
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var storage: [Float]

    /// Number of elements.
    @inlinable public var count: Int { storage.count }

    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, repeating: 0)
    }

    /// A tensor with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape) { $0.initialize(repeating: value) }
    }

    /// A tensor over existing values; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "tensor of shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        self.shape = shape
        self.storage = values
    }

    /// An uninitialised tensor whose every element `fill` writes (kernels' outputs).
    init(shape: [Int], filling fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let n = shape.reduce(1, *)
        self.shape = shape
        // Empty: the shared empty array (a capacity-0 initialiser writes into the runtime's one
        // empty-array storage, a race ThreadSanitizer reports).
        guard n > 0 else {
            self.storage = []
            return
        }
        self.storage = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            adviseHugePages(buffer)
            fill(buffer)
            initialized = n
        }
    }

    /// Whether every element is finite (no NaN, no infinity): the engine's check that a model or
    /// sampler has not blown up, cheap next to the work that made the tensor.
    public var isFinite: Bool {
        storage.withUnsafeBufferPointer { values in
            // x - x is 0 for finite x and NaN for NaN and ±infinity; the sum stays 0 only when all are finite.
            var sum: Float = 0
            for x in values { sum += x - x }
            return sum == 0
        }
    }

    /// The same values under another shape with the same element count; one extent may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[unknown] = count / known
        }
        return Tensor(shape: resolved, values: storage)
    }
}

/// Asks Linux to back a large, not yet touched buffer with transparent huge pages: glibc serves
/// big allocations with fresh mmaps, and faulting them in 2 MB pages instead of 4 KB ones makes a
/// new 100 MB tensor about five times cheaper to fill. Only the 2 MB-aligned interior is advised.
@inline(__always) func adviseHugePages(_ buffer: UnsafeMutableBufferPointer<Float>) {
    #if os(Linux)
    let hugePage = 1 << 21
    guard buffer.count * MemoryLayout<Float>.stride >= 2 * hugePage, let base = buffer.baseAddress else { return }
    let start = (Int(bitPattern: base) + hugePage - 1) & ~(hugePage - 1)
    let end = Int(bitPattern: base + buffer.count) & ~(hugePage - 1)
    if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
    #endif
}
