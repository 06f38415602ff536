/// What a checkpoint says about one tensor before it is loaded: element type, shape and where
/// its bytes are.
public struct TensorInfo: Equatable, Sendable {
    /// The stored element type.
    public var dtype: DType
    /// Extent of each dimension, outermost first (`[]` for a scalar).
    public var shape: [Int]
    /// Byte range inside the file's data area (after the header).
    public var dataOffsets: Range<Int>

    /// Describes a tensor of `dtype` and `shape` stored at `dataOffsets` of the data area.
    public init(dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// A safetensors element type, spelled as in the header (`"F16"`). Names stipple does not
    /// know are kept, so such tensors can be listed; only F32, F16 and BF16 can be loaded.
    public struct DType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The header spelling.
        public var rawValue: String

        /// The dtype spelled `rawValue` in a header.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// IEEE single precision.
        public static let f32 = DType(rawValue: "F32")
        /// IEEE half precision.
        public static let f16 = DType(rawValue: "F16")
        /// bfloat16: the upper 16 bits of a Float32.
        public static let bf16 = DType(rawValue: "BF16")

        /// Bits per element for the dtypes the safetensors format defines; nil for others.
        public var bitWidth: Int? {
            switch rawValue {
            case "F4": 4
            case "F6_E2M3", "F6_E3M2": 6
            case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0": 8
            case "I16", "U16", "F16", "BF16": 16
            case "I32", "U32", "F32": 32
            case "I64", "U64", "F64", "C64": 64
            default: nil
            }
        }

        /// Whether `tensor(_:)` can convert it to Float32.
        public var isLoadable: Bool { self == .f32 || self == .f16 || self == .bf16 }

        public var description: String { rawValue }
    }
}
