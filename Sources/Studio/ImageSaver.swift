import Diffusion
import Foundation
import Imaging

/// Saves generated images as PNGs carrying their A1111 `parameters` text: into an output folder
/// (`NNNNN-SEED.png`) or to a chosen file. Never overwrites, never leaves a partial file.
public struct ImageSaver: Sendable {
    /// The version written into every image's parameters.
    public static let version = "stipple 0.1.0"

    /// What the images were made on: a loaded model or a server's checkpoint.
    public let target: ModelTarget
    /// A1111's short model hash, when it could be computed.
    public let modelHash: String?

    public init(target: ModelTarget, modelHash: String?) {
        self.target = target
        self.modelHash = modelHash
    }

    public init(model: StableDiffusionModel, modelHash: String?) {
        self.init(target: .embedded(model), modelHash: modelHash)
    }

    /// The model's A1111 hash (of the single file, or of a folder's UNet weights), nil when the
    /// file cannot be read.
    public static func modelHash(of model: StableDiffusionModel) -> String? {
        guard let file = model.weightFiles.first else { return nil }
        return try? ModelHash.short(file: file)
    }

    /// The parameters text of `image`: the server's own when it gave one (A1111's infotext says
    /// what it did in its own words, which `--from` reads back), else stipple's.
    public func infotext(for image: GeneratedImage) -> Infotext {
        if let text = image.serverRecord?.infotext, !text.isEmpty { return Infotext(parsing: text) }
        return Infotext(image: image, target: target, modelHash: modelHash, version: Self.version)
    }

    /// The PNG bytes of `image` with its parameters (the server's text exactly, when it gave one),
    /// and the server's further texts (ComfyUI's `prompt` graph).
    public func png(for image: GeneratedImage) throws -> [UInt8] {
        let record = image.serverRecord
        let parameters = record?.infotext.flatMap { $0.isEmpty ? nil : $0 } ?? infotext(for: image).text
        let extra = (record?.texts ?? []).filter { $0.key != "parameters" }.map { PNGText(key: $0.key, value: $0.value) }
        return try Self.png(image.image, parameters: parameters, extraTexts: extra)
    }

    /// PNG bytes of `pixels` with a `parameters` text chunk (and `extraTexts` after it).
    public static func png(_ pixels: PixelImage, parameters: String, extraTexts: [PNGText] = []) throws -> [UInt8] {
        let rgb = RGBImage(pixels)
        do {
            return try PNG.encode(rgb, texts: [PNGText(key: "parameters", value: parameters)] + extraTexts)
        } catch {
            throw OutputFolder.SaveError(description: "cannot encode the PNG: \(error.description)")
        }
    }

    /// Saves into `folder` as `NNNNN-SEED.png`.
    public func save(_ image: GeneratedImage, in folder: OutputFolder) throws -> URL {
        try folder.save(try png(for: image), seed: image.seed)
    }

    /// Saves to `path` exactly; fails rather than replace an existing file.
    public func save(_ image: GeneratedImage, to path: String) throws -> URL {
        try OutputFolder.saveNew(try png(for: image), to: URL(fileURLWithPath: path))
    }
}

extension OutputFolder {
    /// Writes `bytes` to `target` through a temporary file in the same folder and a hard link,
    /// so the file appears whole or not at all, and an existing file is never replaced.
    public static func saveNew(_ bytes: [UInt8], to target: URL) throws(SaveError) -> URL {
        let folder = target.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SaveError(description: "\(target.path): the folder \(folder.path) does not exist")
        }
        if FileManager.default.fileExists(atPath: target.path) {
            throw SaveError(description: "\(target.path): already exists; stipple never overwrites an output")
        }
        removeStaleTemporaryFiles(in: folder)
        guard let temporary = writeTemporary(bytes, in: folder) else {
            throw SaveError(description: "\(target.path): cannot write there (\(String(cString: strerror(errno))))")
        }
        defer { unlink(temporary) }
        guard link(temporary, target.path) == 0 else {
            let reason = errno == EEXIST ? "already exists; stipple never overwrites an output" : String(cString: strerror(errno))
            throw SaveError(description: "\(target.path): \(reason)")
        }
        return target
    }
}

/// The model hash, computed on a background queue from the moment the model is loaded.
public final class ModelHashTask: @unchecked Sendable {  // `result` is written once, before `done` is left
    private let done = DispatchGroup()
    private var result: String?

    public init(model: StableDiffusionModel) {
        DispatchQueue.global(qos: .utility).async(group: done) { [self] in
            result = ImageSaver.modelHash(of: model)
        }
    }

    /// A hash already known (a server's), or none.
    public init(known: String?) {
        result = known
    }

    /// The hash (waits for it).
    public var value: String? {
        done.wait()
        return result
    }
}
