import Tensor

/// A stream of standard normal Float32 values, drawn in order.
///
/// A generation keeps one stream: it draws the initial latents, then each ancestral step's noise,
/// in the same order as diffusers (which calls `randn_tensor(shape, generator=generator)` each
/// time), so the same seed gives the same image.
public protocol RandomSource {
    /// The next `shape.reduce(1, *)` values of the stream as a tensor of that shape (row-major).
    mutating func normal(shape: [Int]) -> Tensor
}
