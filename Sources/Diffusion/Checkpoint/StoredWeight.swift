#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Parallel
import Tensor

/// The precision large weights are kept in while a model is loaded (`--weight-type`,
/// `weight_type` in config.toml); nil everywhere means "as the file stores them".
public enum WeightType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE single precision: 4 bytes a weight, what every kernel computes in.
    case f32
    /// IEEE half precision: 2 bytes a weight, rounded to nearest even from Float32.
    case f16
    /// bfloat16: 2 bytes a weight (Float32's upper half), rounded to nearest even.
    case bf16

    /// The safetensors dtype of the same name.
    var dtype: TensorInfo.DType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }

    public var description: String { rawValue }
}

/// A large weight (a Linear or Conv2d matrix, an embedding table) kept in the form it is stored
/// in: Float32 values, or F32 / F16 / BF16 bytes read in place from the memory-mapped checkpoint,
/// or F16 / BF16 bytes in a buffer of its own (`--weight-type` converted them at load).
///
/// Kernels compute in Float32: `withFloat32Matrix` hands them the weight as a `WeightMatrix` whose
/// blocks are converted exactly (the same floats `SafetensorsFile.tensor` would give) into scratch
/// taken from `ScratchPool` as the kernel asks for them; `withFloat32` converts the whole weight.
/// Float32 weights that are 4-byte aligned in the mapping are used in place.
public struct StoredWeight: @unchecked Sendable {  // the bytes are never written after init
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    let storage: Storage

    enum Storage {
        /// Float32 values of our own.
        case values(Tensor)
        /// `shape`'s elements of `dtype` at `bytes`, kept alive by `owner` (the file's mapping or
        /// a `HalfBuffer`).
        case bytes(UnsafeRawPointer, TensorInfo.DType, owner: AnyObject)
    }

    /// Float32 values already in memory.
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        storage = .values(tensor)
    }

    /// Elements of `dtype` (F32, F16 or BF16) at `bytes`, valid while `owner` lives.
    init(shape: [Int], dtype: TensorInfo.DType, bytes: UnsafeRawPointer, owner: AnyObject) {
        precondition(dtype.isLoadable, "stored weights are F32, F16 or BF16")
        self.shape = shape
        storage = .bytes(bytes, dtype, owner: owner)
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The element type kept in memory.
    public var dtype: TensorInfo.DType {
        switch storage {
        case .values: .f32
        case .bytes(_, let dtype, _): dtype
        }
    }

    /// Bytes this weight holds of its own (not counting a file mapping it reads in place).
    public var ownedBytes: Int {
        switch storage {
        case .values(let tensor): tensor.count * 4
        case .bytes(_, _, let owner): owner is HalfBuffer ? count * 2 : 0
        }
    }

    /// Runs `body` with the weight's `count` values as Float32: `withFloat32Matrix`'s matrix as one
    /// block (in place, or converted whole into scratch valid only during the call).
    public func withFloat32<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        withFloat32Matrix { matrix in
            matrix.withBlock(rows: 0..<matrix.rows, columns: 0..<matrix.columns) { values, _ in body(values) }
        }
    }

    /// Runs `body` with the weight as a `WeightMatrix` [shape[0], rest]: Float32 values in memory
    /// (or aligned in the mapping) are read in place; others are converted a block at a time into
    /// scratch as the kernel asks for them, so no Float32 copy of the whole weight is ever made.
    /// Pages of the file mapping are handed back afterwards.
    public func withFloat32Matrix<R>(_ body: (WeightMatrix) -> R) -> R {
        let rows = shape.first ?? 1, columns = shape.dropFirst().reduce(1, *)
        switch storage {
        case .values(let tensor):
            if tensor.count == 0 { return ScratchPool.shared.withBuffer(count: 1) { body(WeightMatrix($0, rows: rows, columns: columns)) } }
            return tensor.storage.withUnsafeBufferPointer { body(WeightMatrix($0.baseAddress!, rows: rows, columns: columns)) }
        case .bytes(let bytes, let dtype, let owner):
            let mapped = owner is SafetensorsFile, size = dtype == .f32 ? 4 : 2
            defer { if mapped { releaseMappedPages(bytes, byteCount: count * size) } }
            return withExtendedLifetime(owner) {
                if dtype == .f32 && Int(bitPattern: bytes) % MemoryLayout<Float>.alignment == 0 {
                    return body(WeightMatrix(bytes.assumingMemoryBound(to: Float.self), rows: rows, columns: columns))
                }
                let convert = Self.converter(dtype)
                return body(WeightMatrix(rows: rows, columns: columns) { block, part, out in
                    if part.count == columns {
                        // Whole rows are one contiguous run.
                        convertInChunks(out, bytes + block.lowerBound * columns * size, count: block.count * columns,
                                        elementSize: size, convert)
                    } else {
                        nonisolated(unsafe) let out = out
                        parallelChunks(block.count, grain: max(1, conversionChunkElements / max(1, part.count))) { range in
                            for row in range {
                                convert(out + row * part.count, bytes + ((block.lowerBound + row) * columns + part.lowerBound) * size,
                                        part.count)
                            }
                        }
                    }
                })
            }
        }
    }

    /// Row `row` of the weight viewed as [shape[0], rest] (an embedding table's entry), as Float32 into `out`.
    public func copyRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let width = shape.dropFirst().reduce(1, *)
        precondition(row >= 0 && row < (shape.first ?? 0), "row \(row) of a weight of shape \(shape)")
        switch storage {
        case .values(let tensor):
            tensor.storage.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + row * width, count: width) }
        case .bytes(let bytes, let dtype, let owner):
            withExtendedLifetime(owner) {
                let size = dtype == .f32 ? 4 : 2
                Self.converter(dtype)(out, bytes + row * width * size, width)
            }
        }
    }

    /// Elements `part` (a run of whole rows) under `shape`: OpenCLIP's fused q, k, v thirds and
    /// 1x1 convolutions read as linear weights, without copying bytes that stay where they are.
    func part(_ part: Range<Int>, shape: [Int]) -> StoredWeight {
        switch storage {
        case .values(let tensor):
            return StoredWeight(part.count == tensor.count
                ? Tensor(shape: shape, values: tensor.storage) : Tensor(shape: shape, values: Array(tensor.storage[part])))
        case .bytes(let bytes, let dtype, let owner):
            return StoredWeight(shape: shape, dtype: dtype, bytes: bytes + part.lowerBound * (dtype == .f32 ? 4 : 2), owner: owner)
        }
    }

    /// The same weight kept as `type`: converted once (rounded to nearest even when narrowing),
    /// into memory of its own; itself when it already is. When the source bytes were read from a
    /// file mapping, their pages are handed back (`releaseMappedPages`), so the file's bytes do not
    /// stay resident beside the converted copy.
    public func converted(to type: WeightType) -> StoredWeight {
        guard dtype != type.dtype else { return self }
        let n = count
        let result: StoredWeight
        switch type {
        case .f32:
            var values = [Float](repeating: 0, count: n)
            values.withUnsafeMutableBufferPointer { out in
                if let base = out.baseAddress { withFloat32 { base.update(from: $0, count: n) } }
            }
            result = StoredWeight(Tensor(shape: shape, values: values))
        case .f16, .bf16:
            result = withFloat32 { Self.narrowed($0, shape: shape, to: type) }
        }
        if case .bytes(let bytes, let dtype, let owner) = storage, owner is SafetensorsFile {
            releaseMappedPages(bytes, byteCount: n * (dtype == .f32 ? 4 : 2))
        }
        return result
    }

    /// `shape`'s Float32 values at `source` kept as half precision (`type` f16 or bf16, rounded to
    /// nearest even) in memory of their own.
    static func narrowed(_ source: UnsafePointer<Float>, shape: [Int], to type: WeightType) -> StoredWeight {
        precondition(type != .f32, "narrowing is to f16 or bf16")
        let n = shape.reduce(1, *)
        let buffer = HalfBuffer(count: n)
        nonisolated(unsafe) let (source, out) = (source, buffer.pointer)
        let pieces = (n + conversionChunkElements - 1) / conversionChunkElements
        let narrow = type == .f16 ? narrowToFloat16 : narrowToBFloat16
        parallelFor(pieces) { piece in
            let start = piece * conversionChunkElements
            narrow(out + start, source + start, min(conversionChunkElements, n - start))
        }
        return StoredWeight(shape: shape, dtype: type.dtype, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    static func converter(_ dtype: TensorInfo.DType) -> @Sendable (UnsafeMutablePointer<Float>, UnsafeRawPointer, Int) -> Void {
        switch dtype {
        case .f16: convertFloat16
        case .bf16: convertBFloat16
        default: copyFloat32
        }
    }
}

/// Half-precision values of one converted weight (2 bytes each), freed with it.
final class HalfBuffer: @unchecked Sendable {  // written once, at conversion, before it is shared
    let pointer: UnsafeMutablePointer<UInt16>

    init(count: Int) {
        pointer = .allocate(capacity: max(1, count))
    }

    deinit { pointer.deallocate() }
}

/// Tells the kernel that the pages wholly inside `bytes ..< bytes + byteCount` of a read-only
/// private file mapping are not needed now: they leave the process's resident set, and a later
/// read faults them in again from the page cache (or the file). Nothing is lost: the mapping is
/// never written. A weight read in place is handed back after each use, so the process holds one
/// layer of the file at a time; the file stays in the page cache, which the kernel may reclaim
/// when memory is short (and which a second process mapping the same file shares).
func releaseMappedPages(_ bytes: UnsafeRawPointer, byteCount: Int) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard page > 0 else { return }
    let start = (Int(bitPattern: bytes) + page - 1) / page * page
    let end = (Int(bitPattern: bytes) + byteCount) / page * page
    if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED)) }
}

/// A weight source whose large weights are kept as `type` (`--weight-type`): each is converted
/// once as it is loaded. Small tensors (biases, norms) come through unchanged.
public struct TypedWeights: WeightSource {
    /// Where the weights come from.
    public let base: any WeightSource
    /// The precision large weights are kept in.
    public let type: WeightType

    /// `base`'s weights, large ones kept as `type`.
    public init(_ base: any WeightSource, type: WeightType) {
        self.base = base
        self.type = type
    }

    public var tensorNames: [String] { base.tensorNames }
    public func info(_ name: String) -> TensorInfo? { base.info(name) }
    public var loadedTensorNames: Set<String> { base.loadedTensorNames }

    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        try base.tensor(name, shape: shape)
    }

    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        try base.storedWeight(name, shape: shape).converted(to: type)
    }

    public func lowRankAdapters(_ module: String) throws(CheckpointError) -> [LowRankAdapter] {
        try base.lowRankAdapters(module)
    }
}

extension WeightSource {
    /// This source with its large weights kept as `type`; itself when `type` is nil (as stored).
    public func keeping(_ type: WeightType?) -> any WeightSource {
        guard let type else { return self }
        return TypedWeights(self, type: type)
    }
}
