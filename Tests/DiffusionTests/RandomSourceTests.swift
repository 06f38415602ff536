import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Fixtures/rng/torch_randn.safetensors holds torch's own `torch.randn` values, written by
///     .venv-ref/bin/python tools/make_rng_fixtures.py Tests/DiffusionTests/Fixtures/rng
/// (torch 2.15 on an AVX-512 CPU; names explained in that script and in Fixtures/rng/README.md).
/// TorchRandomSource reproduces every value bit for bit, so the comparisons are exact.
@Suite struct RandomSourceTests {
    static let seeds: [UInt64] = [0, 1, 42, 965_400_086, 1 << 32 - 1, 1 << 32 + 5, 1 << 63 - 1, .max]
    static let smallShapes: [[Int]] = [[1], [7], [15], [16], [17], [100]]
    static let largeShapes: [[Int]] = [[4, 64, 64], [4, 96, 64]]
    static let sequence: [[Int]] = [[1, 4, 8, 8], [1, 4, 8, 8], [2, 4, 8, 8], [3], [1, 4, 8, 8], [1], [1], [5, 7]]

    static func fixture() throws -> SafetensorsFile {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/rng/torch_randn.safetensors")
        return try SafetensorsFile(path: url.path)
    }

    static func name(_ shape: [Int]) -> String {
        shape.map(String.init).joined(separator: "x")
    }

    /// The largest absolute difference, or infinity when the shapes differ.
    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        return zip(a.storage, b.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    // MARK: MT19937

    @Test func mersenneTwisterMatchesItsPublishedOutputs() {
        var engine = MersenneTwister(seed: 5489)
        #expect(engine.next() == 3_499_211_612)
        for _ in 2..<10_000 { _ = engine.next() }
        #expect(engine.next() == 4_123_659_995)  // the 10,000th output, as C++ std::mt19937 promises
    }

    @Test func bulkFillContinuesTheSameStream() {
        var one = MersenneTwister(seed: 42)
        var bulk = one
        let expected = (0..<2000).map { _ in one.next() }
        var words = [UInt32](repeating: 0, count: 2000)
        words.withUnsafeMutableBufferPointer { words in
            bulk.fill(UnsafeMutableBufferPointer(rebasing: words[..<7]))
            bulk.fill(UnsafeMutableBufferPointer(rebasing: words[7...]))
        }
        #expect(words == expected)
    }

    // MARK: torch.randn

    @Test(arguments: seeds)
    func freshGeneratorMatchesTorch(seed: UInt64) throws {
        let file = try Self.fixture()
        for shape in Self.smallShapes + Self.largeShapes {
            var source = TorchRandomSource(seed: seed)
            let values = source.normal(shape: shape)
            let key = "seed\(seed)_\(Self.name(shape))"
            if file.info(key) != nil {
                let expected = try file.tensor(key)
                #expect(Self.maxDifference(values, expected) == 0, "\(key)")
            } else {
                let n = values.count
                let head = try file.tensor(key + "_head").storage
                let tail = try file.tensor(key + "_tail").storage
                #expect(Array(values.storage[..<64]) == head, "\(key) head")
                #expect(Array(values.storage[(n - 64)...]) == tail, "\(key) tail")
                let sums = try file.tensor(key + "_sums").storage
                let sum = values.storage.reduce(0.0) { $0 + Double($1) }
                let squares = values.storage.reduce(0.0) { $0 + Double($1) * Double($1) }
                #expect(abs(sum - Double(sums[0])) < 1e-3 && abs(squares - Double(sums[1])) < 1e-2, "\(key) sums")
            }
        }
    }

    @Test func everyValueOfFullLatentDrawsMatches() throws {
        let file = try Self.fixture()
        for key in ["seed0_4x64x64", "seed0_4x96x64", "seed965400086_4x64x64"] {
            let expected = try file.tensor(key)
            var source = TorchRandomSource(seed: key.hasPrefix("seed0_") ? 0 : 965_400_086)
            let values = source.normal(shape: expected.shape)
            #expect(values.storage.map(\.bitPattern) == expected.storage.map(\.bitPattern), "\(key)")
        }
    }

    @Test(arguments: [UInt64(42), 965_400_086])
    func oneGeneratorContinuesItsStreamLikeTorch(seed: UInt64) throws {
        let file = try Self.fixture()
        var source = TorchRandomSource(seed: seed)
        for (i, shape) in Self.sequence.enumerated() {
            let expected = try file.tensor("seq\(seed)_\(i)_\(Self.name(shape))")
            let values = source.normal(shape: shape)
            #expect(values.shape == shape)
            #expect(Self.maxDifference(values, expected) == 0, "draw \(i) of shape \(shape)")
        }
    }

    @Test func onlyTheLow32BitsOfTheSeedCount() {
        var low = TorchRandomSource(seed: 5)
        var high = TorchRandomSource(seed: 1 << 32 | 5)
        #expect(low.normal(shape: [3]).storage == high.normal(shape: [3]).storage)
        #expect(low.normal(shape: [40]).storage == high.normal(shape: [40]).storage)
        #expect(high.seed == 1 << 32 | 5)
    }

    @Test func aCopyForksTheStreamAndEmptyDrawsDrawNothing() {
        var source = TorchRandomSource(seed: 7)
        _ = source.normal(shape: [1])  // leaves the scalar path's second value cached
        #expect(source.normal(shape: [0, 4]).shape == [0, 4])
        var copy = source
        #expect(source.normal(shape: [5]).storage == copy.normal(shape: [5]).storage)
        #expect(source.normal(shape: [33]).storage == copy.normal(shape: [33]).storage)
    }
}
