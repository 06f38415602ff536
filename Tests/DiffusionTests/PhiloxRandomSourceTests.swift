import Foundation
import Testing
@testable import Diffusion

/// AUTOMATIC1111's Philox generator (its CPU imitation of CUDA's randn), bit for bit against its own
/// code: Fixtures/rng/philox_randn.safetensors, made by tools/make_philox_fixtures.py.
@Suite struct PhiloxRandomSourceTests {
    static let fixture: SafetensorsFile? = try? SafetensorsFile(
        path: CheckpointFixtures.root.appendingPathComponent("rng/philox_randn.safetensors").path)

    @Test func fixtureIsPresent() {
        #expect((Self.fixture?.tensorNames.count ?? 0) == 29)
    }

    /// Every fixture draw (the calls of one generator per seed, and one full 512x512 latent); exact
    /// equality. A call's values depend only on the seed and the call's number (its counter), so
    /// each draw is made on a fresh generator after that many calls of any shape.
    @Test func matchesA1111sGeneratorBitForBit() throws {
        let file = try #require(Self.fixture)
        var compared = 0
        for name in file.tensorNames {
            let parts = name.split(separator: "_")
            guard parts.count == 3, let seed = UInt64(parts[0].dropFirst(4)), let call = Int(parts[1].dropFirst(4)) else {
                Issue.record("unexpected fixture name \(name)")
                continue
            }
            var source = PhiloxRandomSource(seed: seed)
            for _ in 0..<call { _ = source.normal(shape: [1]) }
            let expected = try file.tensor(name)
            let ours = source.normal(shape: expected.shape)
            let mismatches = zip(ours.storage, expected.storage).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(name): \(mismatches) of \(expected.count) values differ")
            compared += expected.count
        }
        #expect(compared > 16_384)
    }

    /// A1111's own documented example, seed 0, shape (3, 4), and the stream's basic statistics.
    @Test func documentedExampleAndStatistics() {
        var source = PhiloxRandomSource(seed: 0)
        let first = source.normal(shape: [3, 4])
        let documented: [Float] = [-0.92466259, -0.42534415, -2.6438457, 0.14518388]
        for (a, b) in zip(first.storage.prefix(4), documented) { #expect(abs(a - b) < 1e-6) }
        let many = source.normal(shape: [1 << 16]).storage.map(Double.init)
        let mean = many.reduce(0, +) / Double(many.count)
        let variance = many.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(many.count)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.02)
        #expect(source.calls == 2)
    }
}
