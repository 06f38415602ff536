/// A sampler as people write it, the one reader of sampler text: stipple's names (`euler_a`,
/// `dpmpp_2m`, any case) and A1111's display names (`Euler a`, `DPM++ 2M`), where a ` Karras`
/// suffix (`DPM++ 2M Karras`, A1111 before 1.9) also names the schedule. The command line's
/// `--sampler`, the studio's Sampler field, parameters read back from PNGs and
/// `makeSampler(name:schedule:...)` on text all parse through it.
public struct SamplerChoice: Sendable, Equatable {
    public var sampler: SamplerName
    /// The schedule the name carries (`.karras` for ` Karras`); nil when it names none, so the
    /// schedule chosen elsewhere stays.
    public var schedule: SigmaSchedule?

    public init(_ sampler: SamplerName, schedule: SigmaSchedule? = nil) {
        self.sampler = sampler
        self.schedule = schedule
    }

    /// The sampler (and schedule) `text` names; throws `.unknownSampler(text)`, whose description
    /// lists every valid name.
    public init(parsing text: String) throws(SamplerError) {
        if let name = SamplerName(rawValue: text.lowercased()) {
            self.init(name)
            return
        }
        let suffix = " Karras"
        let karras = text.hasSuffix(suffix)
        let base = karras ? String(text.dropLast(suffix.count)) : text
        guard let name = SamplerName.allCases.first(where: { $0.displayName == base }) else {
            throw .unknownSampler(text)
        }
        self.init(name, schedule: karras ? .karras : nil)
    }

    /// `sampler` and `schedule` set to this choice (the schedule only when the name carries one).
    public func apply(sampler: inout SamplerName, schedule: inout SigmaSchedule) {
        sampler = self.sampler
        if let carried = self.schedule { schedule = carried }
    }
}

extension SamplerName {
    /// The sampler named `text` (see `SamplerChoice(parsing:)`; a schedule suffix is dropped here).
    public init(parsing text: String) throws(SamplerError) {
        self = try SamplerChoice(parsing: text).sampler
    }
}

extension SigmaSchedule {
    /// The schedule named `text`, the one reader of schedule text: stipple's names (`default`,
    /// `karras`, `exponential`, any case) and A1111's `Schedule type` values (`Karras`,
    /// `Exponential`, `Uniform`: k-diffusion's; `Automatic` is the model's own spacing). Throws
    /// `.unknownSchedule(text)`, whose description lists the valid names.
    public init(parsing text: String) throws(SamplerError) {
        switch text.lowercased() {
        case "automatic": self = .model
        case let lowered:
            guard let schedule = SigmaSchedule(rawValue: lowered) else { throw .unknownSchedule(text) }
            self = schedule
        }
    }

    /// A1111's `Schedule type` value; nil for the model's own spacing (A1111's `Automatic`, which
    /// stipple leaves out of the parameters text).
    public var displayName: String? {
        switch self {
        case .model: nil
        case .karras: "Karras"
        case .exponential: "Exponential"
        case .uniform: "Uniform"
        }
    }
}
