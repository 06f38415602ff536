import Diffusion
import Foundation
import ShippedFiles

/// Finds and loads the model a command asks for: a diffusers folder or a single-file
/// .safetensors checkpoint given by path, else the default model.
public enum ModelLocator {
    /// Why no model could be loaded; one line.
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads `path` (nil: the default model). `prediction` overrides the prediction type (for
    /// v-prediction single files, which cannot be told apart by their tensors). `weightType` keeps
    /// the large weights in that precision (nil: as stored).
    public static func load(path: String?, prediction: PredictionType? = nil,
                            weightType: WeightType? = nil) throws(LoadError) -> StableDiffusionModel {
        var configured = path
        if configured == nil {
            do {
                configured = try defaultModelPath()
            } catch {
                throw LoadError(description: error.description)
            }
        }
        guard let given = configured else {
            throw LoadError(description: "no model given and no bundled model (\(ShippedFile.bundledModel.notFound())): "
                            + "use --model PATH (a diffusers folder or a .safetensors file)")
        }
        var isDirectory: ObjCBool = false
        // A bundled model by name ("shapes-64-lcm") unless a file or folder here has that name.
        let path = FileManager.default.fileExists(atPath: given) ? given : bundledModel(named: given) ?? given
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let names = bundledModels().map { URL(fileURLWithPath: $0).lastPathComponent }
            throw LoadError(description: "\(path): no such model file or folder"
                            + (names.isEmpty ? "" : " (bundled models: \(names.joined(separator: ", ")))"))
        }
        do {
            if isDirectory.boolValue {
                return try StableDiffusionModel(folder: path, prediction: prediction, weightType: weightType)
            }
            return try StableDiffusionModel(singleFile: path, prediction: prediction, weightType: weightType)
        } catch let error as CheckpointError {
            throw LoadError(description: error.description)
        } catch {
            throw LoadError(description: "\(path): \(error)")
        }
    }

    /// The default model: `model` in `$XDG_CONFIG_HOME/stipple/config.toml`, else the bundled
    /// model (`ShippedFile.bundledModel`: $STIPPLE_DATA, next to the binary, its prefix's
    /// share/stipple, its source checkout); nil when there is none. A config file that cannot be
    /// read is an error.
    public static func defaultModelPath() throws(StudioConfig.LoadError) -> String? {
        if let configured = try StudioConfig.current().model { return configured }
        return ShippedFile.bundledModel.locate { FileManager.default.fileExists(atPath: $0 + "/model_index.json") }
    }

    /// The bundled models: the bundled default model's folder first, then the other model folders
    /// (with a model_index.json) beside it, by name: its linear-schedule, flow-matching and LCM
    /// variants (samples/, or share/stipple/models/ once installed). Empty when there is none.
    public static func bundledModels() -> [String] {
        guard let main = ShippedFile.bundledModel.locate(accept: { FileManager.default.fileExists(atPath: $0 + "/model_index.json") })
        else { return [] }
        let parent = URL(fileURLWithPath: main).deletingLastPathComponent()
        let siblings = ((try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []).sorted()
            .map { parent.appendingPathComponent($0).path }
            .filter { $0 != main && FileManager.default.fileExists(atPath: $0 + "/model_index.json") }
        return [main] + siblings
    }

    /// The bundled model called `name` (its folder's name, e.g. `shapes-64-lcm`), nil when `name`
    /// is a path or no bundled model has that name.
    public static func bundledModel(named name: String) -> String? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        return bundledModels().first { URL(fileURLWithPath: $0).lastPathComponent == name }
    }

    /// Where the bundled model may be, in lookup order.
    static func bundledModelCandidates() -> [String] { ShippedFile.bundledModel.candidates() }

    /// The themes folder (found as the bundled model is), nil when absent.
    public static func themesFolder() -> URL? {
        ShippedFile.themes.locate().map { URL(fileURLWithPath: $0) }
    }

    /// The error when `themesFolder()` is nil: what was looked for where, and how to fix it.
    public static func themesNotFound() -> String { ShippedFile.themes.notFound() }
}
