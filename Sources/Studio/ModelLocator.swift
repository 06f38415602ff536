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
        guard let path = path ?? defaultModelPath() else {
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
    /// bundled in samples/ (see `bundledModelCandidates`); nil when there is none.
    public static func defaultModelPath() -> String? {
        if let configured = StudioConfig.load().model { return configured }
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

/// Settings from `$XDG_CONFIG_HOME/stipple/config.toml` (else `~/.config/...`): flat
/// `key = "value"` lines (TOML strings and numbers), `#` comments.
public struct StudioConfig: Sendable {
    public var model: String?
    public var outputDirectory: String?
    public var theme: String?
    public var values: [String: String] = [:]

    public static var path: String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory() + "/.config"
        return base + "/stipple/config.toml"
    }

    /// The config file's settings; empty when there is no file.
    public static func load() -> StudioConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return StudioConfig() }
        return StudioConfig(text: text)
    }

    public init() {}

    public init(text: String) {
        for raw in text.split(separator: "\n") {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else { continue }
            var value = parts[1]
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            values[parts[0]] = value
        }
        model = values["model"]
        outputDirectory = values["output_dir"]
        theme = values["theme"]
    }
}
