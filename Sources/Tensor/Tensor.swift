/// A dense Float32 tensor: a shape and one contiguous row-major buffer (NCHW for images and
/// latents, [tokens, channels] for sequences). No autograd; kernels are free functions.
public struct Tensor: Sendable {
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var storage: [Float]

    /// Number of elements.
    @inlinable public var count: Int { storage.count }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A tensor over existing values; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "tensor of shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        self.shape = shape
        self.storage = values
    }
}
