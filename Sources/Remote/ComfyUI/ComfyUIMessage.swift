import Diffusion
import Foundation
import Terminal

/// A WebSocket frame ComfyUI sent that stipple cannot read; one line.
public struct ComfyUIMessageError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// A file ComfyUI wrote, as `executed` and `/history` name it (`/view` fetches it).
public struct ComfyUIFile: Sendable, Equatable {
    public var filename: String
    public var subfolder: String
    /// `output`, `temp` or `input`.
    public var type: String

    public init(filename: String, subfolder: String, type: String) {
        (self.filename, self.subfolder, self.type) = (filename, subfolder, type)
    }

    /// The `images` list of an output, as `executed` and `/history` give it; entries that are
    /// not files (no name, names too long) are left out.
    static func list(_ value: Any?) -> [ComfyUIFile] {
        guard let entries = value as? [Any] else { return [] }
        return entries.prefix(ComfyUIMessage.maximumListCount).compactMap { entry in
            guard let object = entry as? [String: Any], let name = object["filename"] as? String, !name.isEmpty,
                  name.utf8.count <= 1024 else { return nil }
            let subfolder = (object["subfolder"] as? String) ?? ""
            guard subfolder.utf8.count <= 1024 else { return nil }
            return ComfyUIFile(filename: name, subfolder: subfolder, type: (object["type"] as? String) ?? "output")
        }
    }
}

/// One frame of ComfyUI's `/ws` WebSocket, read (ComfyUI 0.8.0; see the fixtures' README):
/// JSON text frames `{"type": T, "data": {...}}` and binary preview frames (`u32` big-endian
/// event, then its payload). Types stipple does not use (`progress_state`, extensions' own)
/// are `.other`. Every malformed frame is a `ComfyUIMessageError`, never a trap: frames are
/// size-bounded before parsing, and every field is checked for its type.
public enum ComfyUIMessage: Sendable, Equatable {
    /// The queue changed (broadcast to every client); `sid` only on the first frame after connecting.
    case status(queueRemaining: Int?, sid: String?)
    case executionStart(promptID: String)
    /// Nodes whose outputs come from the cache (they get no `executing`).
    case executionCached(promptID: String, nodes: [String])
    /// A node starts; `node` nil is the end of the prompt (after success, error or interrupt).
    /// A socket that reconnects mid-job gets one without `prompt_id`.
    case executing(promptID: String?, node: String?)
    /// A step of a node that reports progress (the sampler): `value` of `max`.
    case progress(promptID: String?, node: String?, value: Int, max: Int)
    /// An output node finished and wrote these files.
    case executed(promptID: String, node: String, images: [ComfyUIFile])
    case executionSuccess(promptID: String)
    /// The prompt failed at run time in `nodeType`; `message` is the exception's message as the
    /// server wrote it (use `ComfyUIJob.failureLine`; the traceback is never kept).
    case executionError(promptID: String, nodeID: String?, nodeType: String?, message: String)
    case executionInterrupted(promptID: String, nodeType: String?)
    /// A preview image: event 1 (no prompt id: it belongs to the progress before it) or event 4
    /// (with metadata naming the prompt).
    case preview(Preview)
    /// A frame type stipple does not use.
    case other(type: String)

    public struct Preview: Sendable, Equatable {
        public enum Format: Sendable, Equatable { case jpeg, png }
        public var format: Format
        public var bytes: [UInt8]
        public var promptID: String?
    }

    /// The largest text frame read (a run-time error with its traceback and inputs is tens of KB).
    public static let maximumTextBytes = 8 << 20
    /// The largest binary frame read (a 512 px JPEG preview is about 40 KB; 2048 px at quality 95
    /// a few MB).
    public static let maximumBinaryBytes = 16 << 20
    /// The most entries read from a list in a frame (node ids, files).
    static let maximumListCount = 10_000
    /// The longest prompt id or node id kept.
    static let maximumIDBytes = 256

    // MARK: Text frames

    /// A text frame.
    public static func parse(text: String) throws(ComfyUIMessageError) -> ComfyUIMessage {
        guard text.utf8.count <= maximumTextBytes else {
            throw ComfyUIMessageError("ComfyUI sent a text frame of \(text.utf8.count / 1024) KB, more than the \(maximumTextBytes >> 20) MB read")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            throw ComfyUIMessageError("ComfyUI sent a text frame that is not JSON")
        }
        guard let frame = parsed as? [String: Any], let type = frame["type"] as? String else {
            throw ComfyUIMessageError("ComfyUI sent a JSON frame without a type")
        }
        let data = frame["data"] as? [String: Any]
        func need(_ what: String) -> ComfyUIMessageError {
            ComfyUIMessageError("ComfyUI sent a \(visible(type)) frame without \(what)")
        }
        func promptID() throws(ComfyUIMessageError) -> String {
            guard let id = Self.identifier(data?["prompt_id"]) else { throw need("a prompt_id") }
            return id
        }
        switch type {
        case "status":
            let status = (data?["status"] as? [String: Any])?["exec_info"] as? [String: Any]
            return .status(queueRemaining: MetadataJSON.integer(status?["queue_remaining"]), sid: identifier(data?["sid"]))
        case "execution_start":
            return .executionStart(promptID: try promptID())
        case "execution_cached":
            let nodes = ((data?["nodes"] as? [Any]) ?? []).prefix(maximumListCount).compactMap { identifier($0) }
            return .executionCached(promptID: try promptID(), nodes: nodes)
        case "executing":
            guard let data else { throw need("data") }
            // `node` is null at the end; a present, non-null node must be an id.
            let node = identifier(data["node"])
            if node == nil, let value = data["node"], !(value is NSNull) { throw need("a readable node") }
            return .executing(promptID: identifier(data["prompt_id"]), node: node)
        case "progress":
            guard let value = MetadataJSON.integer(data?["value"]), let max = MetadataJSON.integer(data?["max"]) else {
                throw need("whole-number value and max")
            }
            return .progress(promptID: identifier(data?["prompt_id"]), node: identifier(data?["node"]), value: value, max: max)
        case "executed":
            guard let node = identifier(data?["node"]) else { throw need("a node") }
            let output = data?["output"] as? [String: Any]
            return .executed(promptID: try promptID(), node: node, images: ComfyUIFile.list(output?["images"]))
        case "execution_success":
            return .executionSuccess(promptID: try promptID())
        case "execution_error":
            return .executionError(promptID: try promptID(), nodeID: identifier(data?["node_id"]),
                                   nodeType: identifier(data?["node_type"]), message: (data?["exception_message"] as? String) ?? "")
        case "execution_interrupted":
            return .executionInterrupted(promptID: try promptID(), nodeType: identifier(data?["node_type"]))
        default:
            return .other(type: String(type.prefix(64)))
        }
    }

    /// A string id of bounded length (a number is taken as its text: node ids are strings, but
    /// a server could send `3`).
    static func identifier(_ value: Any?) -> String? {
        if let text = value as? String {
            return text.utf8.count <= maximumIDBytes ? text : nil
        }
        return MetadataJSON.integerText(value)
    }

    /// `text` safe for a terminal and one line, at most `limit` characters.
    static func visible(_ text: String, limit: Int = 64) -> String {
        let line = TerminalText.visible(text)
        return line.count > limit ? String(line.prefix(limit - 3)) + "..." : line
    }

    // MARK: Binary frames

    /// ComfyUI's binary event numbers (server.py `BinaryEventTypes`).
    enum BinaryEvent: UInt32 {
        case previewImage = 1
        case unencodedPreviewImage = 2
        case text = 3
        case previewImageWithMetadata = 4
    }

    /// A binary frame: `u32` BE event, then for event 1 a `u32` image type (1 JPEG, 2 PNG) and
    /// the image; for event 4 a `u32` metadata length, the metadata JSON, and the image.
    public static func parse(binary bytes: [UInt8]) throws(ComfyUIMessageError) -> ComfyUIMessage {
        guard bytes.count <= maximumBinaryBytes else {
            throw ComfyUIMessageError("ComfyUI sent a binary frame of \(bytes.count >> 20) MB, more than the \(maximumBinaryBytes >> 20) MB read")
        }
        guard let event = word(bytes, at: 0) else { throw ComfyUIMessageError("ComfyUI sent a binary frame shorter than its event number") }
        switch BinaryEvent(rawValue: event) {
        case .previewImage?:
            guard let type = word(bytes, at: 4) else { throw ComfyUIMessageError("ComfyUI sent a preview frame without its image type") }
            let format: Preview.Format
            switch type {
            case 1: format = .jpeg
            case 2: format = .png
            default: throw ComfyUIMessageError("ComfyUI sent a preview of image type \(type) (1 JPEG and 2 PNG are known)")
            }
            let image = Array(bytes.dropFirst(8))
            guard !image.isEmpty else { throw ComfyUIMessageError("ComfyUI sent a preview frame with no image") }
            return .preview(Preview(format: format, bytes: image, promptID: nil))
        case .previewImageWithMetadata?:
            guard let length = word(bytes, at: 4).map(Int.init), length <= bytes.count - 8 else {
                throw ComfyUIMessageError("ComfyUI sent a preview frame whose metadata length runs past the frame")
            }
            let metadata = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)]))) as? [String: Any]
            guard let metadata else { throw ComfyUIMessageError("ComfyUI sent a preview frame whose metadata is not a JSON object") }
            let format: Preview.Format
            switch metadata["image_type"] as? String {
            case "image/jpeg"?: format = .jpeg
            case "image/png"?: format = .png
            case let other: throw ComfyUIMessageError("ComfyUI sent a preview of type \(visible(other ?? "nothing")) (JPEG and PNG are known)")
            }
            let image = Array(bytes[(8 + length)...])
            guard !image.isEmpty else { throw ComfyUIMessageError("ComfyUI sent a preview frame with no image") }
            return .preview(Preview(format: format, bytes: image, promptID: identifier(metadata["prompt_id"])))
        case .unencodedPreviewImage?, .text?:
            return .other(type: "binary event \(event)")
        case nil:
            throw ComfyUIMessageError("ComfyUI sent a binary frame of unknown event \(event)")
        }
    }

    /// The big-endian u32 at `offset`, if the bytes reach that far.
    static func word(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        guard offset >= 0, bytes.count >= offset + 4 else { return nil }
        return bytes[offset..<(offset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}
