#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor
import UserFiles

/// A `.safetensors` file, memory-mapped read-only: the header is parsed and checked when the file
/// is opened; tensor bytes are read from the mapping (so from the page cache) only when a tensor
/// is loaded, and converted to Float32 (`tensor`), or kept where they are (`storedWeight`: large
/// weights, converted per use).
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the
/// data area that the offsets index. Opening checks that N fits the file, that every entry's
/// offsets lie in the data area without overlapping another's, and that each byte count matches
/// dtype and shape, so loading never reads outside the mapping. (The mapping assumes nobody
/// truncates the file while it is open.)
public final class SafetensorsFile: @unchecked Sendable {  // immutable after init; `loaded` is locked
    /// The path the file was opened with.
    public let path: String
    /// The `__metadata__` strings (empty when the header has none).
    public let metadata: [String: String]
    /// Every tensor name, sorted.
    public let tensorNames: [String]

    let entries: [String: TensorInfo]
    /// The start of the mapping and its length in bytes.
    private let mapping: UnsafeRawPointer
    private let mappedByteCount: Int
    /// Where the data area starts in the file: 8 + N.
    private let dataStart: Int
    private let loaded = Locked<Set<String>>([])

    /// Opens, maps and checks the file at `path`.
    public init(path: String) throws(CheckpointError) {
        let (mapping, byteCount) = try Self.map(path)
        do {
            let header = try Self.readHeader(UnsafeRawBufferPointer(start: mapping, count: byteCount), path: path)
            self.entries = header.entries
            self.metadata = header.metadata
            self.dataStart = header.dataStart
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: mapping), byteCount)
            throw error
        }
        self.path = path
        self.tensorNames = entries.keys.sorted()
        self.mapping = mapping
        self.mappedByteCount = byteCount
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: mapping), mappedByteCount)
    }

    /// Dtype, shape and byte range of the named tensor; nil when the file has no such tensor.
    public func info(_ name: String) -> TensorInfo? {
        entries[name]
    }

    /// The named tensor as Float32 at its stored shape: F32 copied, F16 and BF16 converted exactly.
    public func tensor(_ name: String) throws(CheckpointError) -> Tensor {
        guard let info = entries[name] else {
            throw CheckpointError(path: path, tensor: name, reason: .noSuchTensor)
        }
        return try load(name, info)
    }

    /// The named tensor as Float32, after checking that its shape is `shape` (nothing is
    /// converted when it is not).
    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        guard let info = entries[name] else {
            throw CheckpointError(path: path, tensor: name, reason: .noSuchTensor)
        }
        guard info.shape == shape else {
            throw CheckpointError(path: path, tensor: name, reason: .shapeMismatch(actual: info.shape, expected: shape))
        }
        return try load(name, info)
    }

    /// The named tensor kept as stored, read in place from the mapping (nothing is copied or
    /// converted until a kernel asks), after checking that its shape is `shape` (any shape when nil).
    public func storedWeight(_ name: String, shape: [Int]? = nil) throws(CheckpointError) -> StoredWeight {
        guard let info = entries[name] else {
            throw CheckpointError(path: path, tensor: name, reason: .noSuchTensor)
        }
        if let shape, info.shape != shape {
            throw CheckpointError(path: path, tensor: name, reason: .shapeMismatch(actual: info.shape, expected: shape))
        }
        guard info.dtype.isLoadable else {
            throw CheckpointError(path: path, tensor: name, reason: .unsupportedDType(info.dtype.rawValue))
        }
        loaded.withLock { _ = $0.insert(name) }
        return StoredWeight(shape: info.shape, dtype: info.dtype, bytes: mapping + dataStart + info.dataOffsets.lowerBound, owner: self)
    }

    /// The SHA-256 of the data area, the bytes after the header (A1111's "addnet" hash of a LoRA).
    func tensorDataSHA256() -> [UInt8] {
        var hasher = SHA256()
        let piece = 4 << 20
        var offset = dataStart
        while offset < mappedByteCount {
            let count = min(piece, mappedByteCount - offset)
            hasher.update(UnsafeRawBufferPointer(start: mapping + offset, count: count))
            releaseMappedPages(mapping + offset, byteCount: count)
            offset += count
        }
        return hasher.finish()
    }

    /// Names of the tensors loaded so far (to report weights a model did not use).
    public var loadedTensorNames: Set<String> {
        loaded.withLock { $0 }
    }

    private func load(_ name: String, _ info: TensorInfo) throws(CheckpointError) -> Tensor {
        let convert: @Sendable (UnsafeMutablePointer<Float>, UnsafeRawPointer, Int) -> Void
        switch info.dtype {
        case .f32: convert = copyFloat32
        case .f16: convert = convertFloat16
        case .bf16: convert = convertBFloat16
        default: throw CheckpointError(path: path, tensor: name, reason: .unsupportedDType(info.dtype.rawValue))
        }
        let count = info.elementCount
        let source = mapping + dataStart + info.dataOffsets.lowerBound
        let elementSize = info.dtype == .f32 ? 4 : 2
        // An empty tensor is the shared empty array: `unsafeUninitializedCapacity: 0` would write
        // its count into the runtime's one empty-array storage, a race ThreadSanitizer reports.
        let values = count == 0 ? [] : [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let out = buffer.baseAddress {
                convertInChunks(out, source, count: count, elementSize: elementSize, convert)
            }
            initialized = count
        }
        loaded.withLock { _ = $0.insert(name) }
        return Tensor(shape: info.shape, values: values)
    }

    /// Opens and maps the whole file read-only; the descriptor is closed again (the mapping stays).
    private static func map(_ path: String) throws(CheckpointError) -> (UnsafeRawPointer, Int) {
        let fd: Int32
        do {
            fd = try UserFile.open(path)
        } catch {
            throw CheckpointError(path: path, reason: .unreadable(error.reason))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw CheckpointError(path: path, reason: .unreadable(Self.systemError()))
        }
        let byteCount = Int(status.st_size)
        guard byteCount >= 8 else {
            throw CheckpointError(path: path, reason: .tooShort(byteCount: byteCount))
        }
        guard let mapping = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0),
              mapping != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw CheckpointError(path: path, reason: .unreadable("mmap: " + Self.systemError()))
        }
        return (UnsafeRawPointer(mapping), byteCount)
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}
