import Foundation
import UserFiles

/// A model's `config.json` as diffusers or transformers writes it: `Codable`, with every key
/// optional (absent keys take the library's default), and able to say whether stipple can run
/// the architecture it describes.
public protocol DiffusersConfig: Codable, Sendable {
    /// Throws `unsupportedConfig` for settings that change the architecture in ways stipple does
    /// not implement, and `invalidConfig` for inconsistent ones.
    func validate() throws(CheckpointError)
}

extension DiffusersConfig {
    /// Decodes a config from JSON; `path` names it in errors. Does not validate.
    public static func decode(json: Data, path: String = "config.json") throws(CheckpointError) -> Self {
        do {
            return try JSONDecoder().decode(Self.self, from: json)
        } catch let error as DecodingError {
            throw CheckpointError(path: path, reason: .invalidConfig(error.summary.text))
        } catch {
            throw CheckpointError(path: path, reason: .invalidConfig(String(describing: error)))
        }
    }

    /// Reads and decodes the config file at `path`. Does not validate.
    public static func read(from path: String) throws(CheckpointError) -> Self {
        let data: Data
        do {
            data = try UserFile.read(path)
        } catch {
            throw CheckpointError(path: path, reason: .unreadable(error.reason))
        }
        return try decode(json: data, path: path)
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`; `fallback` when the key is absent or null (as diffusers' `from_config`
    /// and transformers fill in constructor defaults).
    func decode<T: Decodable>(_ key: Key, default fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }

    /// The value at `key`: `fallback` when the key is absent, nil when it is null (for settings
    /// where `None` means something, like `mid_block_type: null`, no mid block).
    func decodeNullable<T: Decodable>(_ key: Key, default fallback: T?) throws -> T? {
        contains(key) ? try decodeIfPresent(T.self, forKey: key) : fallback
    }

    /// A setting given either once for all blocks or as a list with one entry per block; a single
    /// value (or `fallback`, when absent or null) is repeated `count` times. A list is returned as
    /// written, so validation can report a wrong length.
    func decodePerBlock<T: Decodable>(_ key: Key, count: Int, default fallback: T) throws -> [T] {
        try decodePerBlockIfPresent(key, count: count) ?? Array(repeating: fallback, count: count)
    }

    /// `decodePerBlock` for settings without a default: nil when absent or null.
    func decodePerBlockIfPresent<T: Decodable>(_ key: Key, count: Int) throws -> [T]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let single = try? decode(T.self, forKey: key) {
            return Array(repeating: single, count: count)
        }
        return try decode([T].self, forKey: key)
    }

    /// An image side given as an integer or as a `[height, width]` list: a square list gives its
    /// side, any other list nil; nil when absent or null.
    func decodeSide(_ key: Key) throws -> Int? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let side = try? decode(Int.self, forKey: key) { return side }
        let sides = try decode([Int].self, forKey: key)
        return Set(sides).count == 1 ? sides.first : nil
    }
}
