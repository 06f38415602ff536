/// A1111's extra-network tags in a prompt: `<lora:NAME:WEIGHT>` (also `<lyco:…>`, the LyCORIS
/// extension's spelling), taken out of the text before it is tokenized, as A1111 does: every
/// `<TYPE:ARGS>` (TYPE letters, digits and `_`; ARGS anything up to `>`) is replaced by nothing.
///
/// Arguments as A1111 reads them: `<lora:NAME>` (weight 1), `<lora:NAME:W>` (W for the text
/// encoders and the UNet), `<lora:NAME:TE:UNET>`, or named `te=…`, `unet=…` (A1111's `dyn=` is
/// ignored with a note).
public struct ExtraNetworkTags: Sendable, Equatable {
    /// One `<lora:…>` tag.
    public struct LoRA: Sendable, Equatable {
        public var name: String
        public var textWeight: Double
        public var unetWeight: Double
    }

    /// The prompt without its tags.
    public var prompt: String
    /// The LoRA tags, in prompt order (a name given twice is two entries, as in A1111).
    public var loras: [LoRA]
    /// Tags that were taken out but mean nothing to stipple, or arguments it did not understand
    /// (one line each, for warnings).
    public var notes: [String]

    /// The tags of `prompt`.
    public init(parsing prompt: String) {
        var text = ""
        var loras: [LoRA] = []
        var notes: [String] = []
        var rest = Substring(prompt)
        while let open = rest.firstIndex(of: "<") {
            text += rest[..<open]
            let after = rest[rest.index(after: open)...]
            let type = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            guard !type.isEmpty, type.allSatisfy(\.isASCII), after.dropFirst(type.count).first == ":",
                  let close = after.firstIndex(of: ">") else {
                text += "<"
                rest = after
                continue
            }
            let arguments = after[after.index(after.startIndex, offsetBy: type.count + 1)..<close]
            guard !arguments.isEmpty, !arguments.contains("<") else {
                text += "<"
                rest = after
                continue
            }
            switch type.lowercased() {
            case "lora", "lyco":
                switch Self.lora(String(arguments)) {
                case .success(let (lora, note)):
                    loras.append(lora)
                    if let note { notes.append(note) }
                case .failure(let problem):
                    notes.append(problem.text)
                }
            default:
                notes.append("<\(type):…> (\(type) networks) is not supported; the tag was taken out of the prompt")
            }
            rest = after[after.index(after: close)...]
        }
        text += rest
        self.prompt = text
        self.loras = loras
        self.notes = notes
    }

    struct Problem: Error { let text: String }

    /// A `<lora:…>` tag's arguments.
    private static func lora(_ arguments: String) -> Result<(LoRA, String?), Problem> {
        let parts = arguments.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard let name = parts.first, !name.isEmpty else { return .failure(Problem(text: "<lora:\(arguments)> names no LoRA; ignored")) }
        var positional: [Double] = []
        var named: [String: Double] = [:]
        var note: String?
        for part in parts.dropFirst() {
            if let equals = part.firstIndex(of: "=") {
                let key = part[..<equals].lowercased(), value = Double(part[part.index(after: equals)...])
                guard let value, value.isFinite else {
                    return .failure(Problem(text: "<lora:\(arguments)>: \(part) is not a number; the tag was ignored"))
                }
                if key == "te" || key == "unet" { named[key] = value } else { note = "<lora:\(arguments)>: \(key)= is not supported; ignored" }
            } else {
                guard let value = Double(part), value.isFinite else {
                    return .failure(Problem(text: "<lora:\(arguments)>: \(part) is not a number; the tag was ignored"))
                }
                positional.append(value)
            }
        }
        if positional.count > 2 { note = "<lora:\(arguments)>: a third number (dyn) is not supported; ignored" }
        let text = named["te"] ?? positional.first ?? 1
        let unet = named["unet"] ?? (positional.count > 1 ? positional[1] : text)
        return .success((LoRA(name: name, textWeight: text, unetWeight: unet), note))
    }
}

private extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
