import ArgumentParser
import Diffusion
import Foundation
import Imaging
import Terminal

/// `stipple info IMAGE`: the generation parameters stored in a PNG, JPEG or WebP.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the generation parameters stored in a PNG, JPEG or WebP image.",
        discussion: """
            Reads the `parameters` text that stipple, AUTOMATIC1111, Forge and stable-diffusion.cpp \
            write, and shows ComfyUI's `prompt` / `workflow` JSON as it is. Texts are found in PNG \
            text chunks (and eXIf, ComfyUI's comf), JPEG and WebP EXIF (UserComment; ComfyUI's, \
            Fooocus's and SwarmUI's tags) and JPEG comments, and in the \"stealth\" text that \
            A1111's stealth-pnginfo extension and NovelAI hide in a PNG's alpha or RGB bits; a \
            "Found in:" line says where. --json prints one JSON object: prompt, negative_prompt, \
            parameters (the Key: value fields in order), the raw texts and found_in. Pixels are \
            read only for stealth text, in a PNG without any text chunk. Control characters \
            in the texts are shown as escapes (\\e, \\x07, \\u{9b}); line breaks and tabs in \
            prompts and ComfyUI JSON stay as they are.
            """
    )

    @Argument(help: "The image file (PNG, JPEG or WebP).")
    var image: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let file = try readImageTexts(image)
        let parameters = file.parameters
        let comfy = file.texts.filter { ["prompt", "workflow"].contains($0.key) }
        if json {
            var object: [String: Any] = ["file": image, "width": file.width, "height": file.height]
            if let parameters {
                object["prompt"] = parameters.prompt
                object["negative_prompt"] = parameters.negativePrompt
                object["parameters"] = parameters.fields.map { ["key": $0.key, "value": $0.value] }
            }
            object["texts"] = Dictionary(file.texts.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            object["found_in"] = file.image.places
            if !file.image.notes.isEmpty { object["notes"] = file.image.notes }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try StandardOutput.write(Array(Self.escapingC1(String(decoding: data, as: UTF8.self)).utf8) + [10])
            return
        }
        guard parameters != nil || !comfy.isEmpty else {
            let skipped = file.image.notes.isEmpty ? "" : "; " + file.image.notes.joined(separator: "; ")
            throw CommandFailure("\(image): no generation parameters in this image (no `parameters`, `prompt` or `workflow` text)"
                                 + TerminalText.visible(skipped))
        }
        // Texts from the file never reach the terminal raw (TerminalText): prompts and ComfyUI's
        // JSON keep their line breaks and tabs, as A1111's PNG Info shows them; a field is one line.
        let multiLine = { (text: String) in TerminalText.visible(text, keepingLineBreaks: true) }
        var out = ""
        if let parameters {
            out += "Prompt: \(multiLine(parameters.prompt))\n"
            if !parameters.negativePrompt.isEmpty { out += "Negative prompt: \(multiLine(parameters.negativePrompt))\n" }
            let keys = parameters.fields.map { TerminalText.visible($0.key) }
            let width = keys.map(\.count).max() ?? 0
            for (key, field) in zip(keys, parameters.fields) {
                out += key + ":" + String(repeating: " ", count: width - key.count + 1) + TerminalText.visible(field.value) + "\n"
            }
        }
        for text in comfy {
            out += "ComfyUI \(text.key):\n\(multiLine(text.value))\n"
        }
        out += "Found in: " + TerminalText.visible(([file.image.places.joined(separator: ", ")] + file.image.notes).joined(separator: "; ")) + "\n"
        try StandardOutput.write(Array(out.utf8))
    }

    /// JSON with the controls JSON leaves raw (DEL, C1 such as CSI U+009B, bidi overrides, line
    /// separators) written as `\uXXXX` escapes: the same JSON, safe to print to a terminal. They
    /// can only occur inside strings, where the escape means the same character.
    static func escapingC1(_ json: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if TerminalText.needsEscape(scalar, keepingLineBreaks: true) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
