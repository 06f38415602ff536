import Foundation

/// The allowed values of every generation setting, in one place. The command line, the studio's
/// parameter panel, parameters read back from a PNG (`--from`, the gallery's `l`) and
/// `GenerationRequest.validate` all check against these rules, so a value is accepted or refused
/// the same way everywhere, with a message that names the setting and the allowed range.
///
/// The ranges are wide enough for every real use (ComfyUI's CFG range, A1111's step and batch
/// ranges, sizes up to 8192) and close enough to keep the arithmetic finite: a CFG of 1e38 or a
/// DDIM eta of 1e30 turns the latents into NaN. What a model or sampler allows beyond these
/// (clip skip by the text encoder's layers, steps by the schedule, size by memory) is checked
/// where that is known.
public enum GenerationLimits {
    public static let steps = SettingRule(name: "steps", lower: 1, upper: 1000, wholeNumber: true)
    public static let cfgScale = SettingRule(name: "CFG scale", lower: 0, upper: 100)
    public static let width = SettingRule(name: "width", lower: 8, upper: 8192, wholeNumber: true, multiple: 8)
    public static let height = SettingRule(name: "height", lower: 8, upper: 8192, wholeNumber: true, multiple: 8)
    public static let batchCount = SettingRule(name: "batch count", lower: 1, upper: 100, wholeNumber: true)
    /// img2img strength: 0 would keep no step at all.
    public static let strength = SettingRule(name: "strength", lower: 0, upper: 1, lowerExclusive: true)
    /// DDIM's eta: above 1 the step's noise exceeds what the schedule leaves room for (NaN).
    public static let eta = SettingRule(name: "eta", lower: 0, upper: 1)
    /// How far the starting noise moves towards the variation seed's (A1111's subseed strength).
    public static let variationStrength = SettingRule(name: "variation strength", lower: 0, upper: 1)
    public static let previewInterval = SettingRule(name: "preview interval", lower: 1, upper: 1000, wholeNumber: true)
    /// Kernel threads: at most one per core (more only adds switching; 10,000 threads would
    /// exhaust the process).
    public static var threads: SettingRule {
        SettingRule(name: "threads", lower: 1, upper: Double(max(1, ProcessInfo.processInfo.activeProcessorCount)),
                    wholeNumber: true)
    }

    /// A1111's clip skip on a text encoder of `layers` layers: 1 (the last layer) to `layers` + 1
    /// (the token embeddings themselves).
    public static func clipSkip(layers: Int) -> SettingRule {
        SettingRule(name: "clip skip", lower: 1, upper: Double(max(0, layers) + 1), wholeNumber: true)
    }

    /// SDXL's original size (each side 8 to 16,384 pixels: the ids are embedded sinusoidally,
    /// any size is finite, but beyond this no real picture was) and crop corner (0 to 16,384).
    public static let originalSide = SettingRule(name: "original size", lower: 8, upper: 16384, wholeNumber: true)
    public static let cropCoordinate = SettingRule(name: "crop coordinate", lower: 0, upper: 16384, wholeNumber: true)

    /// Checks SDXL's size conditioning by `originalSide` and `cropCoordinate`.
    public static func check(_ size: SizeConditioning) throws(SettingError) {
        for side in [size.originalWidth, size.originalHeight].compactMap({ $0 }) { try originalSide.check(side) }
        try cropCoordinate.check(size.cropTop)
        try cropCoordinate.check(size.cropLeft)
    }

    /// A seed as typed or stored: `-1` (nil: draw a random one) or a whole number 0...2^64-1.
    public static func seed(_ text: String) throws(SettingError) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "-1" { return nil }
        guard let value = UInt64(trimmed) else {
            throw SettingError(description: "seed must be -1 (random) or a whole number from 0 to \(UInt64.max), not \(Self.shown(trimmed))")
        }
        return value
    }

    /// Text shown inside a message: at most 40 characters.
    static func shown(_ text: String) -> String {
        text.count > 40 ? "\"\(text.prefix(40))...\"" : "\"\(text)\""
    }
}

/// The rule for one numeric setting: a closed range (optionally open at the bottom), whole
/// numbers only, and a step (multiples of 8 for sizes).
public struct SettingRule: Sendable, Equatable {
    /// The setting's name in messages ("steps", "CFG scale").
    public let name: String
    public let lower: Double
    public let upper: Double
    public let lowerExclusive: Bool
    public let wholeNumber: Bool
    public let multiple: Int

    public init(name: String, lower: Double, upper: Double, lowerExclusive: Bool = false, wholeNumber: Bool = false,
                multiple: Int = 1) {
        (self.name, self.lower, self.upper) = (name, lower, upper)
        (self.lowerExclusive, self.wholeNumber, self.multiple) = (lowerExclusive, wholeNumber, multiple)
    }

    /// The whole-number range, for steppers that clamp.
    public var integerRange: ClosedRange<Int> { Int(lower)...Int(upper) }

    /// What is allowed, as a message says it: "a whole number from 1 to 1000".
    public var allowed: String {
        let (low, high) = (Self.format(lower), Self.format(upper))
        if multiple > 1 { return "a multiple of \(multiple) from \(low) to \(high)" }
        if lowerExclusive { return "a number above \(low) and at most \(high)" }
        return wholeNumber ? "a whole number from \(low) to \(high)" : "a number from \(low) to \(high)"
    }

    public func contains(_ value: Double) -> Bool {
        guard value.isFinite, lowerExclusive ? value > lower : value >= lower, value <= upper else { return false }
        guard wholeNumber else { return true }
        return value == value.rounded() && Int(value) % multiple == 0
    }

    /// `value` when allowed, else the one-line error.
    @discardableResult
    public func check(_ value: Double) throws(SettingError) -> Double {
        guard contains(value) else { throw refusal(Self.format(value)) }
        return value
    }

    @discardableResult
    public func check(_ value: Int) throws(SettingError) -> Int {
        guard contains(Double(value)) else { throw refusal("\(value)") }
        return value
    }

    /// A whole number from text (typed, or stored in a PNG: `20`, also `20.0`); `nan`, `inf`,
    /// `1e300` and fractions are refused, never converted.
    public func integer(_ text: String) throws(SettingError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let value = Int(trimmed) { return try check(value) }
        guard let value = Double(trimmed), contains(value) else {
            throw refusal(GenerationLimits.shown(trimmed))
        }
        return Int(value)
    }

    /// A number from text.
    public func number(_ text: String) throws(SettingError) -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Double(trimmed), contains(value) else { throw refusal(GenerationLimits.shown(trimmed)) }
        return value
    }

    /// `value` moved to the nearest allowed whole number (for arrow-key steppers).
    public func clamped(_ value: Int) -> Int { min(max(value, integerRange.lowerBound), integerRange.upperBound) }

    public func clamped(_ value: Double) -> Double { min(max(value, lower), upper) }

    func refusal(_ value: String) -> SettingError {
        SettingError(description: "\(name) must be \(allowed), not \(value)")
    }

    /// 8 rather than 8.0; 0.5 as is.
    static func format(_ value: Double) -> String {
        value.isFinite && value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// A setting outside its rule; one line naming the setting and what is allowed.
public struct SettingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
