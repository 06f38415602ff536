/// Why a checkpoint, one of its tensors or a model config could not be used. The description is
/// one line that names the file (or folder) and, where one is involved, the tensor:
///
///     unet/diffusion_pytorch_model.safetensors: tensor conv_in.weight has shape [320, 4, 3, 3], expected [320, 8, 3, 3]
public struct CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or folder concerned, as the caller spelled it; empty when not known yet (a config
    /// validated before anyone said where it came from).
    public var path: String
    /// The tensor concerned, if any.
    public var tensor: String?
    /// What is wrong.
    public var reason: Reason

    /// What is wrong, with the numbers that show it.
    public enum Reason: Equatable, Sendable {
        /// The file or folder could not be opened or mapped (the system's explanation).
        case unreadable(String)
        /// The file is shorter than the 8-byte header length.
        case tooShort(byteCount: Int)
        /// The header length field is larger than the file after it.
        case headerLengthExceedsFile(UInt64)
        /// The header length field is larger than the format's 100 MB limit.
        case headerLengthExceedsLimit(UInt64)
        /// The header is not the JSON safetensors expects (detail says where).
        case malformedHeader(String)
        /// A tensor's data offsets run backwards or beyond the data area (`dataSize` bytes).
        case invalidOffsets(begin: Int, end: Int, dataSize: Int)
        /// A tensor's bytes overlap those of another tensor.
        case overlappingData(other: String)
        /// The byte count of a tensor's offsets does not fit its dtype and shape.
        case sizeMismatch(dtype: String, shape: [Int], byteCount: Int)
        /// The tensor's dtype is listed but cannot be loaded as Float32.
        case unsupportedDType(String)
        /// There is no tensor of that name.
        case noSuchTensor
        /// The tensor exists with another shape than the model expects.
        case shapeMismatch(actual: [Int], expected: [Int])
        /// The file is a PyTorch pickle (`.bin`, `.ckpt`, `.pt`), which stipple refuses to read.
        case pickle
        /// A required file or folder is absent (detail names it and where it was looked for).
        case missing(String)
        /// A sharded checkpoint's `*.safetensors.index.json` is unusable (detail says why).
        case invalidIndex(String)
        /// A config file does not decode or is inconsistent (detail says where).
        case invalidConfig(String)
        /// A config asks for an architecture stipple does not implement.
        case unsupportedConfig(key: String, value: String, note: String)
    }

    /// An error about `path` (and `tensor`, if one is concerned).
    public init(path: String, tensor: String? = nil, reason: Reason) {
        self.path = path
        self.tensor = tensor
        self.reason = reason
    }

    /// The same error attributed to `path` (for errors raised before the file was known).
    public func at(_ path: String) -> CheckpointError {
        var copy = self
        copy.path = path
        return copy
    }

    /// How to get a safetensors file from a pickle checkpoint, in one sentence.
    public static let pickleAdvice = "pickle files can run arbitrary code when loaded, so stipple reads only safetensors; "
        + "convert it once in Python, e.g. `DiffusionPipeline.from_pretrained(folder).save_pretrained(out, safe_serialization=True)` "
        + "with diffusers, or `safetensors.torch.save_file(state_dict, \"model.safetensors\")`"

    public var description: String {
        let prefix = path.isEmpty ? "" : path + ": "
        let subject = tensor.map { "tensor \($0)" }
        switch reason {
        case .noSuchTensor:
            return prefix + "no tensor named " + (tensor ?? "?")
        case .shapeMismatch(let actual, let expected):
            return prefix + (subject ?? "tensor") + " has shape \(actual), expected \(expected)"
        default:
            return prefix + (subject.map { $0 + ": " } ?? "") + reasonText
        }
    }

    private var reasonText: String {
        switch reason {
        case .unreadable(let why):
            return "cannot read: " + why
        case .tooShort(let byteCount):
            return "file is \(byteCount) bytes, too short to be safetensors (which starts with an 8-byte header length)"
        case .headerLengthExceedsFile(let length):
            return "header length \(length) exceeds the file"
        case .headerLengthExceedsLimit(let length):
            return "header length \(length) exceeds the 100000000-byte limit of the safetensors format"
        case .malformedHeader(let detail):
            return "malformed safetensors header: " + detail
        case .invalidOffsets(let begin, let end, let dataSize):
            let why = begin > end ? "begin is after end"
                : "the data area has \(dataSize) bytes\(end > dataSize ? "; is the file truncated?" : "")"
            return "data offsets [\(begin), \(end)] are invalid (\(why))"
        case .overlappingData(let other):
            return "data overlaps that of tensor \(other)"
        case .sizeMismatch(let dtype, let shape, let byteCount):
            return "\(dtype) of shape \(shape) does not fill the \(byteCount) bytes its data offsets give it"
        case .unsupportedDType(let dtype):
            return "dtype \(dtype) cannot be loaded as Float32 (F32, F16 and BF16 can)"
        case .noSuchTensor, .shapeMismatch:
            return ""
        case .pickle:
            return "is a PyTorch pickle checkpoint, not safetensors; " + Self.pickleAdvice
        case .missing(let detail):
            return detail
        case .invalidIndex(let detail):
            return "invalid sharded-checkpoint index: " + detail
        case .invalidConfig(let detail):
            return "invalid config: " + detail
        case .unsupportedConfig(let key, let value, let note):
            return "not supported yet: \(key) = \(value)" + (note.isEmpty ? "" : " (\(note))")
        }
    }
}
