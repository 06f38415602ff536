import Testing
@testable import Tensor

/// `timestepEmbedding` against diffusers' `get_timestep_embedding`.
///
/// Expected values from (diffusers 0.x, torch CPU):
///   .venv-ref/bin/python -c "import torch; from diffusers.models.embeddings import get_timestep_embedding as g;
///     print(g(torch.tensor([0., 1., 999., 500.5]), 8, flip_sin_to_cos=True, downscale_freq_shift=0).tolist());
///     print(g(torch.tensor([999., 37.]), 7, flip_sin_to_cos=False, downscale_freq_shift=1, scale=2.0, max_period=1000).tolist());
///     e = g(torch.tensor([999.]), 320, flip_sin_to_cos=True, downscale_freq_shift=0); print([e[0, i].item() for i in [0, 1, 17, 159, 160, 161, 200, 319]])"
@Suite struct TimestepEmbeddingTests {
    /// Arguments near 1000 lose a few ulps to float rounding of t · freq, as in torch.
    let tolerance: Float = 2e-4

    @Test func flippedEvenDimension() {
        let y = timestepEmbedding(timesteps: [0, 1, 999, 500.5], dimension: 8, flipSinToCos: true, downscaleFreqShift: 0)
        let expected: [[Float]] = [
            [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            [0.5403023362159729, 0.9950041770935059, 0.9999499917030334, 0.9999995231628418,
             0.8414709568023682, 0.0998334139585495, 0.009999833069741726, 0.0009999998146668077],
            [0.9996498227119446, 0.8074550628662109, -0.8444697856903076, 0.541143536567688,
             -0.02646075189113617, -0.5899291038513184, -0.5356031656265259, 0.8409302234649658],
            [-0.5513889789581299, 0.9768723845481873, 0.2884533405303955, 0.8773427605628967,
             -0.8342483043670654, -0.21382322907447815, -0.9574939608573914, 0.479864239692688],
        ]
        #expect(y.shape == [4, 8])
        for (a, b) in zip(y.storage, expected.flatMap { $0 }) { #expect(abs(a - b) <= tolerance, "\(a) vs \(b)") }
    }

    @Test func unflippedOddDimensionWithShiftScaleAndPeriod() {
        let y = timestepEmbedding(timesteps: [999, 37], dimension: 7, flipSinToCos: false, downscaleFreqShift: 1,
                                  scale: 2, maxPeriod: 1000)
        let expected: [Float] = [
            -0.05290297418832779, 0.34332171082496643, 0.9101279377937317, 0.998599648475647, 0.9392178654670715, -0.41432732343673706, 0.0,
            -0.9851462841033936, 0.7184054851531982, 0.0739324763417244, 0.1717173457145691, -0.695624589920044, 0.9972632527351379, 0.0,
        ]
        #expect(y.shape == [2, 7])
        for (a, b) in zip(y.storage, expected) { #expect(abs(a - b) <= tolerance, "\(a) vs \(b)") }
    }

    /// SD1.5's UNet: 320 channels, flip_sin_to_cos=True, freq_shift=0.
    @Test func stableDiffusionWidth() {
        let y = timestepEmbedding(timesteps: [999], dimension: 320, flipSinToCos: true, downscaleFreqShift: 0)
        let indices = [0, 1, 17, 159, 160, 161, 200, 319]
        let expected: [Float] = [0.9996498227119446, 0.8026775121688843, 0.041214071214199066, 0.9944063425064087,
                                 -0.02646075189113617, 0.5964133143424988, -0.5899291038513184, 0.1056220605969429]
        for (i, b) in zip(indices, expected) { #expect(abs(y.storage[i] - b) <= tolerance, "index \(i): \(y.storage[i]) vs \(b)") }
    }
}
