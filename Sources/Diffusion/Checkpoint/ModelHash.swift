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

/// SHA-256 (FIPS 180-4), for model hashes: the message's whole 64-byte blocks go through
/// CKernels' compression (the CPU's SHA extensions where it has them, portable C elsewhere); this
/// keeps the partial block and the padding.
public struct SHA256 {
    private var state: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    /// Whether blocks may use the SHA extensions (tests turn it off to compare with the portable
    /// compression).
    var usesAcceleration = true

    public init() {}

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, bytes.count)
            buffer += bytes[0..<take]
            offset = take
            if buffer.count == 64 {
                buffer.withUnsafeBytes { compress($0.baseAddress!.assumingMemoryBound(to: UInt8.self), blocks: 1) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let blocks = (bytes.count - offset) / 64
        if blocks > 0 {
            compress((base + offset).assumingMemoryBound(to: UInt8.self), blocks: blocks)
            offset += 64 * blocks
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

    private mutating func compress(_ data: UnsafePointer<UInt8>, blocks: Int) {
        let accelerated = usesAcceleration
        state.withUnsafeMutableBufferPointer { state in
            if accelerated {
                stipple_sha256_blocks(state.baseAddress!, data, blocks)
            } else {
                stipple_sha256_blocks_portable(state.baseAddress!, data, blocks)
            }
        }
    }

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
