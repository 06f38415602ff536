/// How the CLIP split pattern sees a scalar: `\s`, `\p{L}`, `\p{N}` or anything else.
enum ScalarClass: Equatable {
    case whitespace, letter, number, other

    init(_ scalar: Unicode.Scalar) {
        if scalar.isASCII {
            switch scalar.value {
            case 0x09...0x0D, 0x20: self = .whitespace
            case 0x30...0x39: self = .number
            case 0x41...0x5A, 0x61...0x7A: self = .letter
            default: self = .other
            }
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            self = .whitespace
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            self = .number
        default:
            self = .other
        }
    }
}
