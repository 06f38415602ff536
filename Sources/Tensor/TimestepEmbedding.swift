import Foundation

/// Sinusoidal timestep embedding, exactly diffusers' `get_timestep_embedding` (Float32 arithmetic):
/// freq[k] = exp(-ln(maxPeriod) · k / (half - downscaleFreqShift)), e = t · freq · scale,
/// [sin e, cos e] (or [cos e, sin e] when `flipSinToCos`), zero-padded when `dimension` is odd.
/// timesteps [N] -> [N, dimension].
public func timestepEmbedding(timesteps: [Float], dimension: Int, flipSinToCos: Bool, downscaleFreqShift: Float,
                              scale: Float = 1, maxPeriod: Float = 10000) -> Tensor {
    let half = dimension / 2
    let logPeriod = -Float(Foundation.log(Double(maxPeriod)))
    let frequencies = (0..<half).map { k in Foundation.expf(logPeriod * Float(k) / (Float(half) - downscaleFreqShift)) }
    var y = Tensor(zeros: [timesteps.count, dimension])
    for (n, t) in timesteps.enumerated() {
        for k in 0..<half {
            let e = t * frequencies[k] * scale
            let (first, second) = flipSinToCos ? (Foundation.cosf(e), Foundation.sinf(e)) : (Foundation.sinf(e), Foundation.cosf(e))
            y.storage[n * dimension + k] = first
            y.storage[n * dimension + half + k] = second
        }
    }
    return y
}
