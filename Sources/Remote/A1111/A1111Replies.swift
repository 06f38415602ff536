import Diffusion
import Foundation
import Imaging

/// The `info` of a txt2img/img2img reply: a JSON object sent *as a string* (A1111's
/// `Processed.js()`; sd-server writes the same keys it has). Only what stipple uses is read; a
/// field of the wrong type is as good as absent.
public struct A1111Info: Sendable, Equatable {
    /// The first image's seed (the one drawn when the request said -1).
    public var seed: UInt64?
    public var allSeeds: [UInt64]
    /// One parameters text per image (A1111: the grid's first when there is one).
    public var infotexts: [String]
    /// The sampler that ran: A1111's name, or sd.cpp's (`euler`; `NONE` when it did not know
    /// the one asked for and ran the model's default).
    public var samplerName: String?
    /// A1111: the checkpoint's stem; sd-server: its file name.
    public var modelName: String?
    /// A1111's `v1.10.1`, Forge's tag, sd-server's `stable-diffusion.cpp`.
    public var version: String?
    public var width: Int?
    public var height: Int?
    /// Which of `images` is the first real image (1 when A1111 put a grid first).
    public var indexOfFirstImage: Int

    /// The longest `info` text read.
    static let maxLength = 4 << 20

    /// Parses `info` (a JSON string, or an object from a server that sends one); nil when it is neither.
    init?(_ value: Any?) {
        let object: [String: Any]
        if let text = value as? String {
            guard text.utf8.count <= Self.maxLength, let parsed = A1111JSON.object(text: text) else { return nil }
            object = parsed
        } else if let direct = value as? [String: Any] {
            object = direct
        } else {
            return nil
        }
        seed = A1111JSON.seed(object["seed"])
        allSeeds = (object["all_seeds"] as? [Any] ?? []).prefix(A1111Catalog.maxEntries).compactMap(A1111JSON.seed)
        infotexts = Array((A1111JSON.strings(object["infotexts"]) ?? []).prefix(A1111Catalog.maxEntries))
        samplerName = A1111JSON.string(object["sampler_name"])
        modelName = A1111JSON.string(object["sd_model_name"])
        version = A1111JSON.string(object["version"])
        width = A1111JSON.integer(object["width"])
        height = A1111JSON.integer(object["height"])
        indexOfFirstImage = max(0, min(A1111JSON.integer(object["index_of_first_image"]) ?? 0, 1000))
    }

    /// The infotext of image `index` of the reply's `images` (they line up, grid included).
    func infotext(forImage index: Int) -> String? {
        infotexts.indices.contains(index) ? infotexts[index] : nil
    }
}

/// A txt2img/img2img reply: `{"images": [base64...], "parameters": {...}, "info": "<json>"}`.
struct A1111GenerationReply {
    /// The images' bytes, base64 decoded (not yet checked to be images).
    var images: [[UInt8]]
    var info: A1111Info?

    /// The most characters of one base64 image read (48 MiB: a 4096x4096 PNG is far smaller).
    static let maxImageBase64 = 48 << 20

    /// Reads the reply object; a missing or empty image list, or an image that is not base64, is
    /// an error naming what is wrong.
    init(_ object: [String: Any]) throws(A1111Error) {
        guard let list = object["images"] as? [Any] else {
            throw A1111Error("the reply has no images list")
        }
        var images: [[UInt8]] = []
        for (index, item) in list.prefix(64).enumerated() {
            // A1111 can answer null for an image it could not encode.
            guard let text = item as? String else { images.append([]); continue }
            guard let bytes = A1111JSON.base64(text, limit: Self.maxImageBase64) else {
                throw A1111Error("image \(index + 1) of the reply is not base64 (or larger than \(Self.maxImageBase64 >> 20) MiB)")
            }
            images.append(bytes)
        }
        guard !images.isEmpty else { throw A1111Error("the reply holds no image") }
        self.images = images
        info = A1111Info(object["info"])
    }

    /// The image stipple asked for: the first after a grid.
    var firstImageIndex: Int {
        let index = info?.indexOfFirstImage ?? 0
        return images.indices.contains(index) ? index : 0
    }
}

/// The image bytes a server sent, decoded: PNG only (stipple asks A1111 for PNG through
/// `override_settings.samples_format`; sd-server always sends PNG). The first bytes name any
/// other format in the error.
enum A1111Image {
    /// The largest side decoded: stipple's own size limit (a server's reply is untrusted, and a
    /// small PNG can claim a huge size).
    static let maxSide = Int(GenerationLimits.width.upper)

    static func decode(_ bytes: [UInt8], what: String, maxSide: Int = A1111Image.maxSide) throws(A1111Error) -> (pixels: PixelImage, texts: [PNGText]) {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47]
        guard bytes.starts(with: png) else {
            let isWebP = bytes.count >= 12 && bytes[0..<4] == [0x52, 0x49, 0x46, 0x46] && bytes[8..<12] == [0x57, 0x45, 0x42, 0x50]
            if bytes.starts(with: [0xFF, 0xD8, 0xFF]) || isWebP {
                // A1111 encodes images in its samples_format option (stipple asks for PNG in override_settings).
                throw A1111Error("\(what) is \(isWebP ? "WebP" : "JPEG"), not PNG (set the server's samples_format option to png)")
            }
            throw A1111Error("\(what) is not a PNG image")
        }
        // The size from the header (IHDR: bytes 16-23, big-endian) before anything is inflated.
        if bytes.count >= 24 {
            let side = { (at: Int) in bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
            let (width, height) = (side(16), side(20))
            guard width <= maxSide, height <= maxSide else {
                throw A1111Error("\(what) is \(width)x\(height), larger than the \(maxSide)x\(maxSide) stipple takes")
            }
        }
        let file: PNGFile
        do {
            file = try PNG.decode(bytes)
        } catch {
            throw A1111Error("\(what) is not a readable PNG: \(error.description)")
        }
        return (PixelImage(rgbOf: file.image), file.texts)
    }
}

extension PixelImage {
    /// The pixels of a decoded server image (alpha, if any, flattened over black: servers send
    /// opaque images).
    init(rgbOf image: RGBImage) {
        let opaque = image.flattened(over: (0, 0, 0))
        self.init(width: opaque.width, height: opaque.height, rgb: opaque.pixels)
    }
}

/// A `/sdapi/v1/progress` reply (A1111's ProgressResponse). `sampling_step` is 0-based; while
/// idle `job_count` is 0 (the state keeps the last job's step counts), right after a job begins
/// it is -1, and after the last step `job_no` reaches `job_count` while the image is decoded.
struct A1111Progress: Equatable {
    var progress: Double
    var jobCount: Int
    var jobNumber: Int
    var samplingStep: Int
    var samplingSteps: Int
    var interrupted: Bool
    /// `current_image` as sent (base64), to compare before decoding: A1111 keeps the same
    /// preview between updates.
    var currentImage: String?
    var textInfo: String?

    init?(_ object: [String: Any]) {
        guard let state = object["state"] as? [String: Any] else { return nil }
        // Counts far beyond any real job are clamped, so that step arithmetic cannot overflow.
        func count(_ key: String) -> Int { min(max(A1111JSON.integer(state[key]) ?? 0, -1), 1_000_000) }
        progress = A1111JSON.number(object["progress"]) ?? 0
        jobCount = count("job_count")
        jobNumber = count("job_no")
        samplingStep = count("sampling_step")
        samplingSteps = count("sampling_steps")
        interrupted = A1111JSON.bool(state["interrupted"]) ?? false
        currentImage = (object["current_image"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        textInfo = A1111JSON.string(object["textinfo"])
    }

    /// Sampling is under way: a job with known steps, not past its last image.
    var isSampling: Bool {
        jobCount > 0 && jobNumber < jobCount && samplingSteps > 0
    }

    /// Every step done and the image being decoded (`job_no` reached `job_count`).
    var isDecoding: Bool { jobCount > 0 && jobNumber >= jobCount }

    /// The 1-based step, clamped to 1...total.
    var step: Int { min(max(samplingStep + 1, 1), samplingSteps) }
}
