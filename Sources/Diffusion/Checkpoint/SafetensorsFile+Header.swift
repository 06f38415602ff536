import Foundation

extension SafetensorsFile {
    /// The safetensors format's limit on the JSON header (as in the reference Rust reader).
    static let maximumHeaderLength: UInt64 = 100_000_000

    /// A parsed and checked header.
    struct Header {
        /// Every tensor's dtype, shape and offsets.
        var entries: [String: TensorInfo]
        /// The `__metadata__` strings.
        var metadata: [String: String]
        /// File offset of the data area: 8 + header length.
        var dataStart: Int
    }

    /// Reads and checks the header of a whole file's bytes (at least 8 of them).
    static func readHeader(_ file: UnsafeRawBufferPointer, path: String) throws(CheckpointError) -> Header {
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(file[i]) }
        if length > UInt64(file.count - 8) || length > maximumHeaderLength {
            if looksLikePickle(file) { throw CheckpointError(path: path, reason: .pickle) }
            let reason: CheckpointError.Reason = length > UInt64(file.count - 8)
                ? .headerLengthExceedsFile(length) : .headerLengthExceedsLimit(length)
            throw CheckpointError(path: path, reason: reason)
        }
        let dataStart = 8 + Int(length)
        let json = Data(UnsafeRawBufferPointer(rebasing: file[8..<dataStart]))
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: json)
        } catch let error as DecodingError {
            throw headerError(error, path: path)
        } catch {
            throw CheckpointError(path: path, reason: .malformedHeader(String(describing: error)))
        }
        let entries = try checkedEntries(raw.entries, dataSize: file.count - dataStart, path: path)
        return Header(entries: entries, metadata: raw.metadata, dataStart: dataStart)
    }

    /// Checks each entry's shape, offsets and byte count, then that no two tensors share bytes.
    private static func checkedEntries(_ raw: [String: RawEntry], dataSize: Int,
                                       path: String) throws(CheckpointError) -> [String: TensorInfo] {
        var entries: [String: TensorInfo] = [:]
        for name in raw.keys.sorted() {  // sorted, so the same problem is reported every time
            guard let entry = raw[name] else { continue }
            func fail(_ reason: CheckpointError.Reason) -> CheckpointError {
                CheckpointError(path: path, tensor: name, reason: reason)
            }
            guard entry.dataOffsets.count == 2 else {
                throw fail(.malformedHeader("data_offsets must be [begin, end], not \(entry.dataOffsets)"))
            }
            let (begin, end) = (entry.dataOffsets[0], entry.dataOffsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail(.invalidOffsets(begin: begin, end: end, dataSize: dataSize))
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(.malformedHeader("shape \(entry.shape) has a negative dimension"))
            }
            let dtype = TensorInfo.DType(rawValue: entry.dtype)
            if let bits = dtype.bitWidth {
                var totalBits = bits
                for dimension in entry.shape {
                    let (product, overflow) = totalBits.multipliedReportingOverflow(by: dimension)
                    guard !overflow else { throw fail(.sizeMismatch(dtype: entry.dtype, shape: entry.shape, byteCount: end - begin)) }
                    totalBits = product
                }
                guard totalBits == (end - begin) * 8 else {
                    throw fail(.sizeMismatch(dtype: entry.dtype, shape: entry.shape, byteCount: end - begin))
                }
            } else {
                // No byte count to check the shape against: still, its element count must fit.
                var elements = 1
                for dimension in entry.shape {
                    let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                    guard !overflow else { throw fail(.malformedHeader("shape \(entry.shape) has more elements than fit in an Int")) }
                    elements = product
                }
            }
            entries[name] = TensorInfo(dtype: dtype, shape: entry.shape, dataOffsets: begin..<end)
        }
        // Empty ranges hold no bytes and overlap nothing; the rest must follow one another.
        let byStart = entries.filter { !$0.value.dataOffsets.isEmpty }.sorted {
            ($0.value.dataOffsets.lowerBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.key)
        }
        var previous: (name: String, end: Int)?
        for (name, info) in byStart {
            if let previous, info.dataOffsets.lowerBound < previous.end {
                throw CheckpointError(path: path, tensor: name, reason: .overlappingData(other: previous.name))
            }
            if info.dataOffsets.upperBound > previous?.end ?? 0 {
                previous = (name, info.dataOffsets.upperBound)
            }
        }
        return entries
    }

    /// Whether the file starts like what `torch.save` writes: a zip archive (torch 1.6 and
    /// later) or a bare pickle stream (protocol 2 to 5).
    private static func looksLikePickle(_ file: UnsafeRawBufferPointer) -> Bool {
        let zip = file[0] == 0x50 && file[1] == 0x4B && file[2] == 0x03 && file[3] == 0x04
        let pickle = file[0] == 0x80 && (2...5).contains(file[1])
        return zip || pickle
    }

    /// A JSON decoding failure as a one-line error naming the tensor entry where it happened.
    private static func headerError(_ error: DecodingError, path: String) -> CheckpointError {
        let summary = error.summary
        guard let first = summary.codingPath.first, first != "__metadata__" else {
            let detail = summary.codingPath.isEmpty && summary.isTypeMismatch ? "the header is not a JSON object" : summary.text
            return CheckpointError(path: path, reason: .malformedHeader(detail))
        }
        var withinEntry = summary
        withinEntry.codingPath.removeFirst()
        return CheckpointError(path: path, tensor: first, reason: .malformedHeader(withinEntry.text))
    }
}

/// The header JSON as written: an object of tensor entries plus an optional `__metadata__`.
private struct RawHeader: Decodable {
    var entries: [String: RawEntry] = [:]
    var metadata: [String: String] = [:]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: NameKey.self)
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                entries[key.stringValue] = try container.decode(RawEntry.self, forKey: key)
            }
        }
    }
}

/// One tensor entry of the header JSON.
private struct RawEntry: Decodable {
    var dtype: String
    var shape: [Int]
    var dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}

/// Any JSON object key.
private struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
