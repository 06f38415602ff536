import Tensor

/// A sampler in k-diffusion's variance-exploding parameterisation `x = x0 + sigma * noise`
/// (diffusers' Euler, Euler ancestral, Heun, LMS): the model input is scaled by
/// `1 / sqrt(sigma^2 + 1)` and noise is added at `sigmas[stepIndex]`.
public protocol SigmaSpaceSampler: Sampler {
    /// The noise level at each model call, then the final one.
    var sigmas: [Float] { get }
}

extension SigmaSpaceSampler {
    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        scaledModelInput(sample, sigma: sigmas[stepIndex])
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        noised(original, noise: noise, sigma: sigmas[stepIndex])
    }
}

/// k-diffusion's `get_ancestral_step` (eta 1): the noise level `down` a step from `from` to `to`
/// reaches deterministically and the fresh noise `up` added after it, `down^2 + up^2 = to^2`.
/// In float32, as diffusers, `up` is `sqrt(to^2 (from^2 - to^2) / from^2)`; when `from` is far
/// above `to` (a cosine schedule's sigma_max of 2e4 at a few steps) `from^2 - to^2` rounds to
/// `from^2`, `up` rounds up past `to` and diffusers' `sqrt(to^2 - up^2)` is NaN. As k-diffusion,
/// `up` is capped at `to`, so `down` is 0 there: the step goes to the denoised sample and all of
/// `to` comes back as noise. Equal to diffusers' values wherever those are finite.
func ancestralStep(from: Float, to: Float) -> (down: Float, up: Float) {
    let up = min(to, (to * to * (from * from - to * to) / (from * from)).squareRoot())
    return (max(to * to - up * up, 0).squareRoot(), up)
}

/// `sample / sqrt(sigma^2 + 1)`, the k-diffusion samplers' model input at noise level `sigma`.
func scaledModelInput(_ sample: Tensor, sigma: Float) -> Tensor {
    let scale = (sigma * sigma + 1).squareRoot()
    return mapElements(sample) { $0 / scale }
}

/// `original + noise * sigma`, the k-diffusion samplers' `add_noise`.
func noised(_ original: Tensor, noise: Tensor, sigma: Float) -> Tensor {
    zipMap(original, noise) { x, n in x + n * sigma }
}

extension PredictionType {
    /// The clean sample predicted from a sample `x = alpha * x0 + sigma * noise` in the
    /// variance-preserving parameterisation (`alpha = sqrt(alphas_cumprod)`, `sigma = sqrt(1 - it)`).
    func cleanSample(sample x: Float, output m: Float, alpha: Float, sigma: Float) -> Float {
        switch self {
        case .epsilon: return (x - sigma * m) / alpha
        case .sample: return m
        case .vPrediction: return alpha * x - sigma * m
        }
    }
}

/// `alpha * original + sigma * noise`: diffusers' variance-preserving `add_noise`.
func noisedPreservingVariance(_ original: Tensor, noise: Tensor, alpha: Float, sigma: Float) -> Tensor {
    zipMap(original, noise) { x, n in alpha * x + sigma * n }
}

extension NoiseSchedule {
    /// diffusers' `add_noise` of the alphas-cumprod samplers (DDPM, DDIM, PNDM, LCM) at training
    /// timestep `t`: `sqrt(a) * original + sqrt(1 - a) * noise` with `a = alphas_cumprod[t]`.
    func noised(_ original: Tensor, noise: Tensor, timestep t: Int) -> Tensor {
        let alpha = alphasCumprod[t]
        return noisedPreservingVariance(original, noise: noise, alpha: alpha.squareRoot(),
                                        sigma: (1 - alpha).squareRoot())
    }
}

extension PredictionType {
    /// An Euler step of `dt` in sigma from `start` (`sample` when nil) along k-diffusion's slope
    /// `(x - denoised) / sigma` of `modelOutput` at `sample`, at noise level `sigma`; with the
    /// denoised sample of that model call.
    func eulerStep(from start: Tensor? = nil, sample: Tensor, modelOutput: Tensor, sigma: Float,
                   dt: Float) -> SamplerStep {
        guard let start else {
            return stepMap(sample, modelOutput) { x, m in
                let x0 = denoised(sample: x, output: m, sigma: sigma)
                return (x + (x - x0) / sigma * dt, x0)
            }
        }
        return stepMap(start, sample, modelOutput) { s, x, m in
            let x0 = denoised(sample: x, output: m, sigma: sigma)
            return (s + (x - x0) / sigma * dt, x0)
        }
    }

    /// The clean sample predicted from `sample` and `modelOutput` in the variance-preserving
    /// parameterisation (see `cleanSample(sample:output:alpha:sigma:)`), one pass.
    func cleanSample(sample: Tensor, modelOutput: Tensor, alpha: Float, sigma: Float) -> Tensor {
        zipMap(sample, modelOutput) { x, m in cleanSample(sample: x, output: m, alpha: alpha, sigma: sigma) }
    }
}

/// One pass over two tensors of the same shape writing a step's two outputs: `f` returns the
/// next sample's element and the denoised one.
func stepMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> (sample: Float, denoised: Float)) -> SamplerStep {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    var sample = [Float](repeating: 0, count: a.count), denoised = sample
    for i in 0..<sample.count { (sample[i], denoised[i]) = f(a.storage[i], b.storage[i]) }
    return SamplerStep(sample: Tensor(shape: a.shape, values: sample), denoised: Tensor(shape: a.shape, values: denoised))
}

/// As `stepMap(_:_:_:)` over three tensors.
func stepMap(_ a: Tensor, _ b: Tensor, _ c: Tensor,
             _ f: (Float, Float, Float) -> (sample: Float, denoised: Float)) -> SamplerStep {
    precondition(a.shape == b.shape && a.shape == c.shape, "shapes \(a.shape), \(b.shape), \(c.shape) differ")
    var sample = [Float](repeating: 0, count: a.count), denoised = sample
    for i in 0..<sample.count { (sample[i], denoised[i]) = f(a.storage[i], b.storage[i], c.storage[i]) }
    return SamplerStep(sample: Tensor(shape: a.shape, values: sample), denoised: Tensor(shape: a.shape, values: denoised))
}
