import Foundation
import Testing
@testable import Diffusion

/// A1111's model hash: SHA-256 of the file, first 10 hex digits; digests from Python's hashlib.
@Suite struct ModelHashTests {
    @Test func sha256MatchesKnownDigests() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // 823 bytes: padding that spills into a second block.
        #expect(SHA256.hex((0..<3).flatMap { _ in (0...255).map { UInt8($0) } } + [UInt8](repeating: 0x78, count: 55))
                == "1d099a857037971bbd4c2e0a22e35939ef393d1831523e67d125d194e77ee949")
    }

    /// The SHA extensions' compression (where this CPU has them) gives the portable one's digest
    /// for messages of every length around the block boundaries, fed in pieces of every size.
    @Test func acceleratedCompressionMatchesThePortableOne() {
        var generator = SystemRandomNumberGenerator()
        let message = (0..<(1 << 16) + 77).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 65_613] {
            for piece in [1, 7, 64, 100, 4096, 1 << 20] {
                var fast = SHA256(), portable = SHA256()
                portable.usesAcceleration = false
                var start = 0
                while start < length {
                    let end = min(length, start + piece)
                    message[start..<end].withUnsafeBytes { fast.update($0); portable.update($0) }
                    start = end
                }
                #expect(fast.finish() == portable.finish(), "length \(length), pieces of \(piece)")
            }
        }
    }

    @Test func fileHashIsA1111sShortHashAndIsCached() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-hash-" + UUID().uuidString)
        setenv("XDG_CACHE_HOME", cache.path, 1)
        defer {
            unsetenv("XDG_CACHE_HOME")
            try? FileManager.default.removeItem(at: cache)
        }
        let file = CheckpointFixtures.root.appendingPathComponent("pipelines/sd1/unet/diffusion_pytorch_model.safetensors").path
        #expect(try ModelHash.short(file: file) == "f44006ef13")
        #expect(try ModelHash.full(file: file) == "f44006ef1363c049a299e5ebaee90f5b23105710954927cb475df2b6bc9d40b7")
        let cached = try String(contentsOf: cache.appendingPathComponent("stipple/hashes.json"), encoding: .utf8)
        #expect(cached.contains("f44006ef1363c049"))
        #expect(throws: (any Error).self) { try ModelHash.short(file: "/nonexistent/model.safetensors") }
    }
}
