import Foundation

/// Where the checkpoint fixtures are. Found from this file's path, so the test target needs no
/// resources (Tests/DiffusionTests/Fixtures is next to this file).
enum CheckpointFixtures {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    /// A file of Fixtures/safetensors/ (written by tools/make_safetensors_fixtures.py).
    static func safetensors(_ name: String) -> String {
        root.appendingPathComponent("safetensors").appendingPathComponent(name).path
    }

    /// A file of Fixtures/configs/ (written by tools/make_safetensors_fixtures.py).
    static func config(_ name: String) -> String {
        root.appendingPathComponent("configs").appendingPathComponent(name).path
    }
}

/// A fresh temporary folder; `remove()` deletes it and everything in it.
struct ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-ckpt-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `relative` inside the folder (parent folders are created).
    func path(_ relative: String) throws -> String {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        return file.path
    }

    /// Writes `bytes` to `relative` and returns its path.
    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let file = try path(relative)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `text` to `relative` and returns its path.
    @discardableResult
    func write(_ relative: String, text: String) throws -> String {
        try write(relative, Array(text.utf8))
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Writes safetensors files byte by byte, independently of the reader: tensors are laid out one
/// after another in the order added, the header JSON is assembled by hand.
struct SafetensorsBuilder {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }

    var entries: [Entry] = []
    var metadata: [String: String]?
    /// Spaces after the JSON, to move the data area off 4- or 8-byte alignment.
    var headerPadding = 0

    /// A tensor from its stored bytes, copied as they lie in memory (little-endian on our platforms).
    mutating func add<T>(_ name: String, dtype: String, raw values: [T], shape: [Int]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Array($0) }))
    }

    mutating func add(_ name: String, f32 values: [Float], shape: [Int]) {
        entries.append(Entry(name: name, dtype: "F32", shape: shape, bytes: values.flatMap { Self.littleEndian($0.bitPattern) }))
    }

    mutating func add(_ name: String, f16 bits: [UInt16], shape: [Int]) {
        entries.append(Entry(name: name, dtype: "F16", shape: shape, bytes: bits.flatMap { Self.littleEndian($0) }))
    }

    mutating func add(_ name: String, bf16 bits: [UInt16], shape: [Int]) {
        entries.append(Entry(name: name, dtype: "BF16", shape: shape, bytes: bits.flatMap { Self.littleEndian($0) }))
    }

    /// The whole file.
    var bytes: [UInt8] {
        var fields: [String] = []
        var offset = 0
        var data: [UInt8] = []
        for entry in entries {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            fields.append("\(Self.quoted(entry.name)):{\"dtype\":\"\(entry.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
            offset += entry.bytes.count
            data += entry.bytes
        }
        if let metadata {
            let pairs = metadata.keys.sorted().map { "\(Self.quoted($0)):\(Self.quoted(metadata[$0]!))" }
            fields.insert("\"__metadata__\":{\(pairs.joined(separator: ","))}", at: 0)
        }
        let header = "{" + fields.joined(separator: ",") + "}" + String(repeating: " ", count: headerPadding)
        return Self.file(header: header, data: data)
    }

    /// A file from a header text and data bytes, however wrong they are.
    static func file(header: String, data: [UInt8]) -> [UInt8] {
        let json = Array(header.utf8)
        return littleEndian(UInt64(json.count)) + json + data
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func quoted(_ text: String) -> String {
        // JSONEncoder escapes quotes and control characters.
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
