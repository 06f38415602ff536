import Diffusion
import Foundation

/// Finds and loads the model a command asks for: a diffusers folder or a single-file
/// .safetensors checkpoint given by path, else the default model.
public enum ModelLocator {
    /// Why no model could be loaded; one line.
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads `path` (nil: the default model). `prediction` overrides the prediction type (for
    /// v-prediction single files, which cannot be told apart by their tensors).
    public static func load(path: String?, prediction: PredictionType? = nil) throws(LoadError) -> StableDiffusionModel {
        var configured = path
        if configured == nil {
            do {
                configured = try defaultModelPath()
            } catch {
                throw LoadError(description: error.description)
            }
        }
        guard let path = configured else {
            throw LoadError(description: "no model given: use --model PATH (a diffusers folder or a .safetensors file)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(description: "\(path): no such model file or folder")
        }
        do {
            if isDirectory.boolValue {
                return try StableDiffusionModel(folder: path, prediction: prediction)
            }
            return try StableDiffusionModel(singleFile: path, prediction: prediction)
        } catch let error as CheckpointError {
            throw LoadError(description: error.description)
        } catch {
            throw LoadError(description: "\(path): \(error)")
        }
    }

    /// The default model: `model` in `$XDG_CONFIG_HOME/stipple/config.toml`, else the model
    /// bundled in samples/ (see `bundledModelCandidates`); nil when there is none. A config file
    /// that cannot be read is an error.
    public static func defaultModelPath() throws(StudioConfig.LoadError) -> String? {
        if let configured = try StudioConfig.current().model { return configured }
        return bundledModelCandidates().first { FileManager.default.fileExists(atPath: $0 + "/model_index.json") }
    }

    /// Where the bundled model may be: beside the executable's package checkout (the executable
    /// lives in .build/<config>/), or in the source tree this file was compiled from.
    static func bundledModelCandidates() -> [String] { packageCandidates("samples/shapes-64") }

    /// The themes/ folder of the package (found as the bundled model is), nil when absent.
    public static func themesFolder() -> URL? {
        packageCandidates("themes").first { FileManager.default.fileExists(atPath: $0) }.map { URL(fileURLWithPath: $0) }
    }

    /// `relative` next to the executable and up to three folders above it, then in the source tree.
    static func packageCandidates(_ relative: String) -> [String] {
        var candidates: [String] = []
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(folder.appendingPathComponent(relative).path)
            folder = folder.deletingLastPathComponent()
        }
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(sources.appendingPathComponent(relative).path)
        return candidates
    }
}
