import Foundation

/// SiLU (swish): y = x · sigmoid(x). Any shape.
public func silu(_ x: Tensor) -> Tensor { mapElements(x, SiLUFunction.self) }

/// GELU, exact: y = x/2 · (1 + erf(x/√2)). Any shape.
public func gelu(_ x: Tensor) -> Tensor { mapElements(x, GELUFunction.self) }

/// GELU, tanh approximation: y = x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))). Any shape.
public func geluTanh(_ x: Tensor) -> Tensor { mapElements(x, GELUTanhFunction.self) }

/// CLIP's quick GELU: y = x · sigmoid(1.702 x). Any shape.
public func quickGELU(_ x: Tensor) -> Tensor { mapElements(x, QuickGELUFunction.self) }

/// max(x, 0) elementwise (NaN stays NaN, as PyTorch's).
public func relu(_ x: Tensor) -> Tensor { mapElements(x, ReLUFunction.self) }

/// tanh(x / 3) · 3 elementwise: TAESD's soft clamp of latents to (-3, 3) before decoding.
public func softClamp3(_ x: Tensor) -> Tensor { mapElements(x, SoftClamp3Function.self) }

/// Gated GELU (diffusers GEGLU after its projection): x [..., 2n] -> x[..., :n] · gelu(x[..., n:]) [..., n].
public func geglu(_ x: Tensor) -> Tensor {
    let width = x.shape.last ?? 0
    precondition(width % 2 == 0, "geglu: last dimension \(width) is odd")
    let half = width / 2, rows = x.count / max(1, width)
    return Tensor(shape: Array(x.shape.dropLast()) + [half]) { out in
        x.storage.withUnsafeBufferPointer { input in
            nonisolated(unsafe) let (src, dst) = (input.baseAddress!, out.baseAddress!)
            parallelChunks(rows, grain: max(1, elementwiseGrain / max(1, half))) { range in
                for r in range {
                    let (hidden, gate, y) = (src + r * width, src + r * width + half, dst + r * half)
                    for i in 0..<half { y[i] = hidden[i] * fastGELU(gate[i]) }
                }
            }
        }
    }
}

// MARK: - Elementwise machinery

/// Elements per thread below which elementwise kernels stay on one thread.
let elementwiseGrain = 1 << 16

/// A scalar function applied elementwise; a type (not a closure) so each kernel is specialised and vectorised.
protocol ElementwiseFunction {
    /// f(x).
    static func apply(_ x: Float) -> Float
}

/// x · sigmoid(x).
enum SiLUFunction: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { fastSwish(x, 1) } }
/// x/2 · (1 + erf(x/√2)).
enum GELUFunction: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { fastGELU(x) } }
/// tanh GELU.
enum GELUTanhFunction: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { fastGELUTanh(x) } }
/// x · sigmoid(1.702 x).
enum QuickGELUFunction: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { fastSwish(x, 1.702) } }

/// max(x, 0); NaN passes through.
enum ReLUFunction: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { x < 0 ? 0 : x } }
/// tanh(x / 3) · 3 (libm's tanhf: called once per latent value, never in a hot loop).
enum SoftClamp3Function: ElementwiseFunction { @inline(__always) static func apply(_ x: Float) -> Float { Foundation.tanhf(x / 3) * 3 } }

/// y = F(x) elementwise over any shape, split over cores for large tensors.
func mapElements<F: ElementwiseFunction>(_ x: Tensor, _: F.Type) -> Tensor {
    Tensor(shape: x.shape) { out in
        x.storage.withUnsafeBufferPointer { input in
            guard let src = input.baseAddress, let dst = out.baseAddress else { return }
            nonisolated(unsafe) let (s, d) = (src, dst)
            parallelChunks(input.count, grain: elementwiseGrain) { range in
                for i in range { d[i] = F.apply(s[i]) }
            }
        }
    }
}

// MARK: - Reference twins (Double, libm)

/// Reference twin of `silu`.
public func siluReference(_ x: Tensor) -> Tensor { mapReference(x, siluReference) }
/// Reference twin of `gelu`.
public func geluReference(_ x: Tensor) -> Tensor { mapReference(x, geluReference) }
/// Reference twin of `geluTanh`.
public func geluTanhReference(_ x: Tensor) -> Tensor { mapReference(x, geluTanhReference) }
/// Reference twin of `quickGELU`.
public func quickGELUReference(_ x: Tensor) -> Tensor { mapReference(x, quickGELUReference) }

/// Reference SiLU in Double.
func siluReference(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }
/// Reference exact GELU in Double.
func geluReference(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
/// Reference tanh GELU in Double.
func geluTanhReference(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
/// Reference quick GELU in Double.
func quickGELUReference(_ x: Double) -> Double { x / (1 + Foundation.exp(-1.702 * x)) }

/// Applies a Double function elementwise (the reference path of every activation).
func mapReference(_ x: Tensor, _ f: (Double) -> Double) -> Tensor {
    Tensor(shape: x.shape, values: x.storage.map { Float(f(Double($0))) })
}

/// Reference twin of `geglu`.
public func gegluReference(_ x: Tensor) -> Tensor {
    let width = x.shape.last ?? 0
    precondition(width % 2 == 0, "geglu: last dimension \(width) is odd")
    let half = width / 2, rows = x.count / max(1, width)
    var y = Tensor(zeros: Array(x.shape.dropLast()) + [half])
    for r in 0..<rows {
        for i in 0..<half {
            y.storage[r * half + i] = Float(Double(x.storage[r * width + i]) * geluReference(Double(x.storage[r * width + half + i])))
        }
    }
    return y
}
