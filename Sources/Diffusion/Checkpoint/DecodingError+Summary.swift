extension DecodingError {
    /// A decoding failure in words: where (the JSON keys leading to it) and what.
    struct Summary {
        /// Object keys and `[index]` steps from the root to the problem.
        var codingPath: [String]
        /// What is wrong there, e.g. "expected an integer".
        var problem: String
        /// Whether a value had the wrong JSON type.
        var isTypeMismatch: Bool

        /// `path.to.key: problem`, or just the problem at the root.
        var text: String {
            var location = ""
            for step in codingPath {
                location += step.hasPrefix("[") || location.isEmpty ? step : "." + step
            }
            return location.isEmpty ? problem : location + ": " + problem
        }
    }

    var summary: Summary {
        switch self {
        case .typeMismatch(let type, let context):
            return Summary(codingPath: Self.steps(context.codingPath), problem: "expected " + Self.name(of: type), isTypeMismatch: true)
        case .valueNotFound(let type, let context):
            return Summary(codingPath: Self.steps(context.codingPath), problem: "is null, expected " + Self.name(of: type), isTypeMismatch: false)
        case .keyNotFound(let key, let context):
            return Summary(codingPath: Self.steps(context.codingPath), problem: "missing " + key.stringValue, isTypeMismatch: false)
        case .dataCorrupted(let context):
            var problem = context.debugDescription
            if let underlying = context.underlyingError {
                problem += " (\(underlying))"
            }
            problem = problem.split(whereSeparator: \.isNewline).joined(separator: " ")
            return Summary(codingPath: Self.steps(context.codingPath), problem: problem, isTypeMismatch: false)
        @unknown default:
            return Summary(codingPath: [], problem: String(describing: self), isTypeMismatch: false)
        }
    }

    private static func steps(_ path: [any CodingKey]) -> [String] {
        path.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Int].Type: "a list of integers"
        case is [String].Type: "a list of strings"
        case is [Bool].Type: "a list of booleans"
        case is [Float].Type: "a list of numbers"
        case is [String: String].Type: "an object of strings"
        case is [String: Any].Type: "a JSON object"
        default: String(describing: type)
        }
    }
}
