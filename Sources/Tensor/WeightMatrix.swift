/// A weight matrix [rows, columns] (row-major) as a kernel reads it: Float32 values already in
/// memory, read in place, or values kept in another precision that are converted a block at a time
/// into scratch just before the product that needs them. A kernel asks for blocks of at most
/// `blockFloats` values (all of it at once when it is in place), so the Float32 scratch a weight
/// needs is one block, not the whole matrix: SD1.5's 2560->1280 3x3 convolution is 118 MB whole.
public struct WeightMatrix {
    /// Rows (a linear layer's outputs, a convolution's output channels).
    public let rows: Int
    /// Values per row (a convolution's C·kh·kw).
    public let columns: Int
    /// The most values a kernel should ask for in one block: unlimited for values read in place,
    /// `blockBudget` for converted ones.
    public let blockFloats: Int
    private let values: UnsafePointer<Float>?
    private let convert: ((Range<Int>, Range<Int>, UnsafeMutablePointer<Float>) -> Void)?

    /// Floats of one converted block (8 MB).
    public static let blockBudget = 1 << 21

    /// Float32 values in memory at `values`, valid while the matrix is used.
    public init(_ values: UnsafePointer<Float>, rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        self.values = values
        convert = nil
        blockFloats = Int.max
    }

    /// Values converted on request: `convert(rows, columns, into)` writes the block's Float32
    /// values contiguously (row stride `columns.count`) into `into`. `blockFloats` bounds a block.
    public init(rows: Int, columns: Int, blockFloats: Int = Self.blockBudget,
                convert: @escaping (Range<Int>, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        self.rows = rows
        self.columns = columns
        self.blockFloats = max(1, blockFloats)
        values = nil
        self.convert = convert
    }

    /// Whether blocks are views of values in memory (no conversion: any block size costs nothing).
    public var inPlace: Bool { convert == nil }

    /// Runs `body` with rows `rows`, columns `columns` of the matrix as Float32 and the stride
    /// between their rows: a view of the values in place, or converted into scratch that is valid
    /// only during the call.
    public func withBlock<R>(rows: Range<Int>, columns: Range<Int>, _ body: (UnsafePointer<Float>, _ rowStride: Int) -> R) -> R {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= self.rows && columns.lowerBound >= 0
                     && columns.upperBound <= self.columns, "weight block \(rows) x \(columns) of [\(self.rows), \(self.columns)]")
        if let values { return body(values + rows.lowerBound * self.columns + columns.lowerBound, self.columns) }
        return ScratchPool.shared.withBuffer(count: max(1, rows.count * columns.count)) { scratch in
            convert?(rows, columns, scratch)
            return body(scratch, columns.count)
        }
    }

    /// Rows per block when blocks are whole rows: as many as fit `blockFloats`, at least one.
    public var rowsPerBlock: Int { max(1, min(rows, blockFloats / max(1, columns))) }
}
