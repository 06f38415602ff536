import Diffusion
import Foundation

/// An X/Y comparison grid, AUTOMATIC1111's "X/Y plot": one axis or two, each a setting and the
/// values it takes, e.g. `steps=5,10,20,50` and `cfg=1,2,3,7`. Every cell is one generation of the
/// base request with the cell's column value and row value set; the same seed everywhere unless
/// `seed` is an axis, so the cells differ only by what the axes say.
///
/// The text form, typed in the studio (F11) and given to `stipple grid --x/--y`: `NAME=V1,V2,...`
/// where NAME is one of `GridAxis.Kind` (steps, cfg, seed, sampler, schedule, model, prompt,
/// strength); `prompt` is A1111's Prompt S/R: the first value is a piece of the prompt, every
/// value replaces it in turn (the first cell keeps the prompt as it is). In the studio both axes
/// go on one line, separated by `|` or `;`.
public struct GridPlan: Sendable, Equatable {
    public var x: GridAxis
    public var y: GridAxis?

    /// At most this many cells (a 12x12 grid): each one is a whole generation.
    public static let maximumCells = 144

    public init(x: GridAxis, y: GridAxis? = nil) throws(GridAxis.ParseError) {
        guard y?.kind != x.kind else { throw GridAxis.ParseError(description: "both axes are \(x.kind.rawValue): choose two different settings") }
        let cells = x.values.count * (y?.values.count ?? 1)
        guard cells <= Self.maximumCells else {
            throw GridAxis.ParseError(description: "\(cells) cells: a grid holds at most \(Self.maximumCells) (12 x 12)")
        }
        (self.x, self.y) = (x, y)
    }

    /// A plan from the studio's one-line form: `steps=5,10,20 | cfg=1,3,7` (or `;`), one axis or two.
    public init(parsing line: String) throws(GridAxis.ParseError) {
        let parts = line.split(whereSeparator: { $0 == "|" || $0 == ";" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else {
            throw GridAxis.ParseError(description: "type the X axis (and a Y axis after |), e.g. steps=5,10,20 | cfg=1,3,7")
        }
        guard parts.count <= 2 else { throw GridAxis.ParseError(description: "at most two axes (X | Y), not \(parts.count)") }
        try self.init(x: try GridAxis(parsing: parts[0]), y: try parts.dropFirst().first.map { text throws(GridAxis.ParseError) in try GridAxis(parsing: text) })
    }

    public var columns: Int { x.values.count }
    public var rows: Int { y?.values.count ?? 1 }

    /// The request of the cell at (`row`, `column`): `base` with the axes' values set; the model
    /// a `model` axis names (nil: the loaded one).
    public func cell(row: Int, column: Int, base: GenerationRequest) throws(GridAxis.ParseError) -> (request: GenerationRequest, model: String?) {
        var request = base
        request.batchCount = 1
        var model: String?
        try x.apply(x.values[column], to: &request, model: &model, base: base)
        if let y { try y.apply(y.values[row], to: &request, model: &model, base: base) }
        return (request, model)
    }

    /// One line for the image's texts and the status: "X: steps 5, 10, 20; Y: cfg 1, 3, 7".
    public var summary: String {
        "X: " + x.summary + (y.map { "; Y: " + $0.summary } ?? "")
    }
}

/// One axis of a grid: a setting and its values (as typed; checked when parsed).
public struct GridAxis: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        case steps, cfg, seed, sampler, schedule, model, prompt, strength
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public let kind: Kind
    public let values: [String]

    /// At most this many values an axis.
    public static let maximumValues = 12

    /// `NAME=V1,V2,...` (spaces around names and values ignored; `cfg scale`, `CFG` and `sampler`
    /// names as the command line takes them).
    public init(parsing text: String) throws(ParseError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ParseError(description: "\(Self.shown(text)): an axis is NAME=V1,V2,... with NAME one of "
                             + Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let name = text[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        let aliases = ["cfg scale": "cfg", "cfg_scale": "cfg", "guidance": "cfg", "prompt s/r": "prompt", "s/r": "prompt",
                       "checkpoint": "model", "denoise": "strength"]
        guard let kind = Kind(rawValue: aliases[name] ?? name) else {
            throw ParseError(description: "\(Self.shown(name)) is not a grid axis; choose one of "
                             + Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let values = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        // Prompt S/R may replace its piece with nothing; every other axis needs each value.
        guard values.count > (kind == .prompt ? 1 : 0), kind == .prompt ? !values[0].isEmpty : !values.contains(where: \.isEmpty) else {
            throw ParseError(description: "\(kind.rawValue): give the values separated by commas, e.g. \(Self.example(kind))")
        }
        guard values.count <= Self.maximumValues else {
            throw ParseError(description: "\(kind.rawValue): \(values.count) values; an axis takes at most \(Self.maximumValues)")
        }
        try self.init(kind: kind, values: values)
    }

    /// An axis of `kind` over `values`, each checked by the rule the command line uses.
    public init(kind: Kind, values: [String]) throws(ParseError) {
        (self.kind, self.values) = (kind, values)
        var probe = GenerationRequest(prompt: values.first ?? "")
        var model: String?
        for value in values where kind != .prompt {
            try apply(value, to: &probe, model: &model, base: probe)
        }
    }

    /// Sets `value` in `request` (or names the model); the message names the axis and the value.
    func apply(_ value: String, to request: inout GenerationRequest, model: inout String?, base: GenerationRequest) throws(ParseError) {
        func fail(_ why: String) -> ParseError { ParseError(description: "\(kind.rawValue) \(Self.shown(value)): \(why)") }
        do {
            switch kind {
            case .steps:
                guard let steps = Int(value) else { throw fail("not a whole number") }
                request.steps = try GenerationLimits.steps.check(steps)
            case .cfg:
                guard let cfg = Double(value), cfg.isFinite else { throw fail("not a number") }
                request.cfgScale = try GenerationLimits.cfgScale.check(cfg)
            case .strength:
                guard let strength = Double(value), strength.isFinite else { throw fail("not a number") }
                request.strength = try GenerationLimits.strength.check(strength)
            case .seed:
                guard let seed = try GenerationLimits.seed(value) else { throw fail("a grid's seeds must be fixed numbers, not -1") }
                request.seed = seed
            case .sampler:
                do {
                    request.setSampler(try SamplerChoice(parsing: value))
                } catch {
                    throw fail(error.description)
                }
            case .schedule:
                guard let schedule = SigmaSchedule(rawValue: value.lowercased()) else {
                    throw fail("not one of " + SigmaSchedule.allCases.map(\.rawValue).joined(separator: ", "))
                }
                request.schedule = schedule
            case .model:
                model = value
            case .prompt:
                // Prompt S/R: the first value is the text searched for; each value replaces it.
                guard let search = values.first, !search.isEmpty else { throw fail("the first value must be a piece of the prompt") }
                // The standard library's search: Foundation's `contains` / `range(of:)` trap on some
                // text with NUL characters on Linux (found by fuzz-settings).
                guard base.prompt.firstRange(of: search) != nil || base.negativePrompt.firstRange(of: search) != nil else {
                    throw fail("\(Self.shown(search)) is not in the prompt (Prompt S/R's first value is what each value replaces)")
                }
                // The standard library's replacing, not Foundation's replacingOccurrences, which
                // traps on some text with NUL characters on Linux (found by fuzz-settings).
                request.prompt = base.prompt.replacing(search, with: value)
                request.negativePrompt = base.negativePrompt.replacing(search, with: value)
            }
        } catch let error as ParseError {
            throw error
        } catch let error as SettingError {
            throw fail(error.description)
        } catch {
            throw fail("\(error)")
        }
    }

    /// "steps 5, 10, 20"
    public var summary: String { "\(kind.rawValue) " + values.joined(separator: ", ") }

    /// A column or row label: "steps 5", "cfg 3", "model shapes-64-lcm", "red".
    public func label(_ index: Int) -> String {
        guard values.indices.contains(index) else { return "" }
        let value = kind == .model ? URL(fileURLWithPath: values[index]).lastPathComponent : values[index]
        return kind == .prompt ? value : "\(kind.rawValue) \(value)"
    }

    static func example(_ kind: Kind) -> String {
        switch kind {
        case .steps: "steps=5,10,20,50"
        case .cfg: "cfg=1,3,7"
        case .seed: "seed=1,2,3"
        case .sampler: "sampler=euler_a,dpmpp_2m,ddim"
        case .schedule: "schedule=model,karras"
        case .model: "model=shapes-64,shapes-64-linear"
        case .prompt: "prompt=red,green,blue"
        case .strength: "strength=0.3,0.5,0.8"
        }
    }

    static func shown(_ text: String) -> String {
        let visible = text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined()
        return "\"" + (visible.count > 40 ? String(visible.prefix(40)) + "..." : visible) + "\""
    }
}
