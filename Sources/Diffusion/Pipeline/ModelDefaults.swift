import Foundation
import UserFiles

/// The settings a model is meant to be run at, from `stipple_defaults.json` in its folder, e.g.
/// `{"steps": 4, "cfg": 1.5}` for an LCM-distilled model or `{"steps": 20, "cfg": 3}` for the bundled
/// model, which CFG 7 (the general default) over-guides into pinched squares. InvokeAI's model
/// manager and many model cards give such settings; diffusers has no place for them.
///
/// They are used where a person has not chosen: `stipple generate` without `--from` for each
/// setting its options leave out, and the studio's panel when the model is loaded (a field the
/// person changed keeps their value: `ParameterPanel.setModelDefaults`). Keys: `steps`, `cfg`,
/// `sampler` (any name `--sampler` takes, "DPM++ 2M Karras" included), `schedule`; all optional.
/// Each value is checked by the rule the command line uses; a file that breaks one is refused in one
/// line naming the file and the key.
public struct ModelDefaults: Sendable, Equatable {
    public var steps: Int?
    public var cfgScale: Double?
    public var sampler: SamplerName?
    public var schedule: SigmaSchedule?

    public static let fileName = "stipple_defaults.json"

    public init(steps: Int? = nil, cfgScale: Double? = nil, sampler: SamplerName? = nil, schedule: SigmaSchedule? = nil) {
        (self.steps, self.cfgScale, self.sampler, self.schedule) = (steps, cfgScale, sampler, schedule)
    }

    /// Whether the file sets nothing.
    public var isEmpty: Bool { steps == nil && cfgScale == nil && sampler == nil && schedule == nil }

    /// The defaults of the model at `modelPath` (a diffusers folder; nil for a single file or a
    /// folder without the file).
    public static func load(modelPath: String) throws(CheckpointError) -> ModelDefaults? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isFolder), isFolder.boolValue else { return nil }
        let path = URL(fileURLWithPath: modelPath).appendingPathComponent(fileName).path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 65_536 {
            throw CheckpointError(path: path, reason: .invalidConfig("\(size) bytes: a settings file is a few lines of JSON"))
        }
        let data: Data
        do {
            data = try UserFile.read(path)
        } catch {
            throw CheckpointError(path: path, reason: .invalidConfig("cannot be read: \(error)"))
        }
        return try parse(data, path: path)
    }

    /// The defaults in `data` (the file's bytes; `path` names it in errors).
    public static func parse(_ data: Data, path: String) throws(CheckpointError) -> ModelDefaults {
        func invalid(_ why: String) -> CheckpointError { CheckpointError(path: path, reason: .invalidConfig(why)) }
        guard let table = try? JSONDecoder().decode([String: Value].self, from: data) else {
            throw invalid("not a JSON object of settings")
        }
        var defaults = ModelDefaults()
        for (key, value) in table.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "steps":
                guard case .number(let number) = value else { throw invalid("steps must be a number") }
                do { defaults.steps = Int(try GenerationLimits.steps.check(number)) } catch { throw invalid(error.description) }
            case "cfg":
                guard case .number(let number) = value else { throw invalid("cfg must be a number") }
                do { defaults.cfgScale = try GenerationLimits.cfgScale.check(number) } catch { throw invalid(error.description) }
            case "sampler":
                guard case .text(let text) = value else { throw invalid("sampler must be a sampler's name") }
                do {
                    let choice = try SamplerChoice(parsing: text)
                    defaults.sampler = choice.sampler
                    if let carried = choice.schedule { defaults.schedule = carried }
                } catch {
                    throw invalid("sampler: \(error.description)")
                }
            case "schedule":
                guard case .text(let text) = value, let schedule = SigmaSchedule(rawValue: text) else {
                    throw invalid("schedule must be one of \(SigmaSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                defaults.schedule = schedule
            default:
                throw invalid("unknown key \(GenerationLimits.shown(key)) (steps, cfg, sampler and schedule are read)")
            }
        }
        return defaults
    }

    /// One value of the file: a number, a string, or anything else (refused where a key is read).
    private enum Value: Decodable {
        case number(Double), text(String), other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .other
            }
        }
    }

    /// Which settings a person set already (these the defaults leave).
    public struct Chosen: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let steps = Chosen(rawValue: 1)
        public static let cfgScale = Chosen(rawValue: 2)
        public static let sampler = Chosen(rawValue: 4)
        public static let schedule = Chosen(rawValue: 8)
    }

    /// `request` with these defaults for every setting not in `chosen`.
    public func apply(to request: inout GenerationRequest, except chosen: Chosen = []) {
        if let steps, !chosen.contains(.steps) { request.steps = steps }
        if let cfgScale, !chosen.contains(.cfgScale) { request.cfgScale = cfgScale }
        if let sampler, !chosen.contains(.sampler) { request.sampler = sampler }
        if let schedule, !chosen.contains(.schedule) { request.schedule = schedule }
    }

    /// "4 steps, CFG 1.5" (what is set), for status lines and messages.
    public var summary: String {
        var parts: [String] = []
        if let sampler { parts.append(sampler.rawValue) }
        if let schedule { parts.append("\(schedule.rawValue) schedule") }
        if let steps { parts.append("\(steps) step\(steps == 1 ? "" : "s")") }
        if let cfgScale { parts.append("CFG " + (cfgScale == cfgScale.rounded() ? String(Int(cfgScale)) : String(cfgScale))) }
        return parts.joined(separator: ", ")
    }
}

extension StableDiffusionModel {
    /// The model's `stipple_defaults.json` (nil when it has none: a single file, or a folder
    /// without one).
    public func recommendedSettings() throws(CheckpointError) -> ModelDefaults? {
        try ModelDefaults.load(modelPath: path)
    }
}
