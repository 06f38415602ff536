import CKernels
import Foundation
import UserFiles

/// AUTOMATIC1111's model hash: the first 10 hex digits of the SHA-256 of the checkpoint file
/// (its "Model hash" infotext field and the short hash shown beside model names). For a diffusers
/// folder, which A1111 cannot load, stipple hashes the UNet's weight file, the part that makes a
/// fine-tune a different model.
///
/// Hashing a 2-4 GB checkpoint takes seconds, so results are cached in
/// `$XDG_CACHE_HOME/stipple/hashes.json` (else `~/.cache/...`), keyed by path, size and
/// modification time, as A1111 keeps its `cache.json`.
public enum ModelHash {
    /// The short hash of `file`, from the cache when the file has not changed.
    public static func short(file: String) throws -> String {
        String(try full(file: file).prefix(10))
    }

    /// The full SHA-256 (hex) of `file`, cached.
    public static func full(file: String) throws -> String {
        try cached(file: file, kind: "") { try SHA256.hex(file: file) }
    }

    /// The SHA-256 of a safetensors file's bytes after its header (A1111's hash of a LoRA:
    /// `Lora hashes` takes its first 12 digits), cached as `full` is.
    static func tensorData(file: SafetensorsFile) throws -> String {
        try cached(file: file.path, kind: "#tensor-data") { SHA256.hexDigits(file.tensorDataSHA256()) }
    }

    /// `compute`'s digest of `file`, from the cache when the file has not changed since.
    private static func cached(file: String, kind: String, _ compute: () throws -> String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = URL(fileURLWithPath: file).standardizedFileURL.path + kind
        let stamp = "\(size):\(modified)"
        var cache = loadCache()
        if let entry = cache[key], entry.stamp == stamp { return entry.sha256 }
        let digest = try compute()
        cache[key] = CacheEntry(stamp: stamp, sha256: digest)
        saveCache(cache)
        return digest
    }

    struct CacheEntry: Codable {
        var stamp: String
        var sha256: String
    }

    static var cacheURL: URL {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache")
        return base.appendingPathComponent("stipple/hashes.json")
    }

    static func loadCache() -> [String: CacheEntry] {
        guard let data = try? UserFile.read(cacheURL.path) else { return [:] }
        return (try? JSONDecoder().decode([String: CacheEntry].self, from: data)) ?? [:]
    }

    /// Best effort: a cache that cannot be written only costs a re-hash next time.
    static func saveCache(_ cache: [String: CacheEntry]) {
        guard let data = try? JSONEncoder().encode(cache) else { return }
        try? FileManager.default.createDirectory(at: cacheURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? data.write(to: cacheURL, options: .atomic)
    }
}

/// SHA-256 (FIPS 180-4), for model hashes.
public struct SHA256 {
    private var state: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    /// Whether whole blocks go through the SHA extensions when the CPU has them (tests turn it off
    /// to compare with the portable compression).
    var usesAcceleration = true

    public init() {}

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        var offset = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, bytes.count)
            buffer += bytes[0..<take]
            offset = take
            if buffer.count == 64 {
                buffer.withUnsafeBytes { compress($0.baseAddress!) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let blocks = (bytes.count - offset) / 64
        if blocks > 0, usesAcceleration, let base = bytes.baseAddress,
           state.withUnsafeMutableBufferPointer({ stipple_sha256_blocks($0.baseAddress!, base + offset, blocks) }) == 1 {
            offset += 64 * blocks
        }
        while bytes.count - offset >= 64 {
            compress(bytes.baseAddress! + offset)
            offset += 64
        }
        if offset < bytes.count { buffer += bytes[offset...] }
    }

    /// The 32-byte digest (the hasher is spent).
    public mutating func finish() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (64 + 56 - (buffer.count + 1) % 64) % 64)
        tail += (0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * UInt64($0))) }
        let saved = length
        tail.withUnsafeBytes { update($0) }
        length = saved
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * UInt32($0))) } }
    }

    private mutating func compress(_ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            }
            for i in 16..<64 {
                let s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            Self.k.withUnsafeBufferPointer { k in
                var (a, b, c, d, e, f, g, h) = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
                for i in 0..<64 {
                    let s1 = rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)
                    let choice = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ choice &+ k[i] &+ w[i]
                    let s0 = rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ majority
                    (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
                }
                state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
                state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
            }
        }
    }

    @inline(__always) private func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// Hex digest of `data`.
    public static func hex(_ data: [UInt8]) -> String {
        var hasher = SHA256()
        data.withUnsafeBytes { hasher.update($0) }
        return hexDigits(hasher.finish())
    }

    /// A digest as lower-case hex.
    static func hexDigits(_ digest: [UInt8]) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Hex digest of a file, read in 4 MB pieces.
    public static func hex(file: String) throws -> String {
        let handle: FileHandle
        do {
            handle = FileHandle(fileDescriptor: try UserFile.open(file), closeOnDealloc: true)
        } catch {
            throw CheckpointError(path: file, reason: .unreadable(error.reason))
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = try handle.read(upToCount: 4 << 20) ?? Data()
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hexDigits(hasher.finish())
    }
}
