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
            Reads the metadata other generators write: the `parameters` text of stipple, \
            AUTOMATIC1111, Forge, SD.Next, stable-diffusion.cpp, Fooocus (both its schemes) and \
            SwarmUI; ComfyUI's `prompt` graph (one generation per sampler node, the one that made \
            the image first); InvokeAI's `invokeai_metadata`, `sd-metadata` and `Dream`; \
            NovelAI's `Comment`. Fields are shown under A1111's names as `generate --from` \
            reruns them (sampler names converted), with a note for each thing stipple cannot \
            use. Texts are found in PNG text chunks (and eXIf, ComfyUI's comf), JPEG and WebP \
            EXIF (UserComment; ComfyUI's, Fooocus's and SwarmUI's tags) and JPEG comments, and in \
            the "stealth" text that A1111's stealth-pnginfo extension and NovelAI hide in a PNG's \
            alpha or RGB bits; a "Found in:" line says where. --json prints one JSON object: \
            source, prompt, negative_prompt, parameters (the Key: value fields in order) and notes \
            of the first generation, every generation, the raw texts and found_in. Pixels are read \
            only for stealth text, in a PNG without any text chunk. Control characters in the \
            texts are shown as escapes (\\e, \\x07, \\u{9b}); line breaks and tabs in prompts \
            stay as they are.
            """
    )

    @Argument(help: "The image file (PNG, JPEG or WebP).")
    var image: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let file = try readImageTexts(image)
        let metadata = file.metadata
        if json {
            var object: [String: Any] = ["file": image, "width": file.width, "height": file.height]
            if let metadata {
                object["source"] = metadata.source.displayName
                object["notes"] = metadata.notes
                let generations = metadata.generations.map { generation in
                    var entry: [String: Any] = [
                        "prompt": generation.infotext.prompt,
                        "negative_prompt": generation.infotext.negativePrompt,
                        "parameters": generation.infotext.fields.map { ["key": $0.key, "value": $0.value] },
                        "notes": generation.notes,
                    ]
                    if let label = generation.label { entry["label"] = label }
                    return entry
                }
                object["generations"] = generations
                if let first = generations.first {
                    for key in ["prompt", "negative_prompt", "parameters"] { object[key] = first[key] }
                }
            }
            object["texts"] = Dictionary(file.texts.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            object["found_in"] = file.image.places
            if !file.image.notes.isEmpty { object["notes"] = (object["notes"] as? [String] ?? []) + file.image.notes }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try StandardOutput.write(Array(Self.escapingC1(String(decoding: data, as: UTF8.self)).utf8) + [10])
            return
        }
        guard let metadata else {
            let skipped = file.image.notes.isEmpty ? "" : "; " + file.image.notes.joined(separator: "; ")
            throw CommandFailure("\(image): no generation parameters in this image (no metadata from stipple, A1111, ComfyUI, "
                                 + "Fooocus, InvokeAI, NovelAI, SwarmUI or stable-diffusion.cpp)" + TerminalText.visible(skipped))
        }
        let foundIn = ([file.image.places.joined(separator: ", ")] + file.image.notes).joined(separator: "; ")
        try StandardOutput.write(Array((Self.text(metadata) + "Found in: " + TerminalText.visible(foundIn) + "\n").utf8))
    }

    /// The metadata as `info` prints it: `Source:` (left out for A1111's and stipple's own
    /// infotext), image notes, then each generation (numbered when there are several): prompt,
    /// negative prompt, the fields aligned, its notes. Texts from the file never reach the
    /// terminal raw (TerminalText): prompts keep their line breaks and tabs, as A1111's PNG Info
    /// shows them; a field or a note is one line.
    static func text(_ metadata: ImageMetadata) -> String {
        let multiLine = { (text: String) in TerminalText.visible(text, keepingLineBreaks: true) }
        var out = ""
        if ![.a1111, .stipple].contains(metadata.source) { out += "Source: \(metadata.source.displayName)\n" }
        for note in metadata.notes { out += "Note: \(TerminalText.visible(note))\n" }
        for (index, generation) in metadata.generations.enumerated() {
            if metadata.generations.count > 1 {
                let label = generation.label.map { " (\(TerminalText.visible($0)))" } ?? ""
                out += "\(index > 0 ? "\n" : "")Generation \(index + 1) of \(metadata.generations.count)\(label):\n"
            }
            let parameters = generation.infotext
            out += "Prompt: \(multiLine(parameters.prompt))\n"
            if !parameters.negativePrompt.isEmpty { out += "Negative prompt: \(multiLine(parameters.negativePrompt))\n" }
            let keys = parameters.fields.map { TerminalText.visible($0.key) }
            let width = keys.map(\.count).max() ?? 0
            for (key, field) in zip(keys, parameters.fields) {
                out += key + ":" + String(repeating: " ", count: width - key.count + 1) + TerminalText.visible(field.value) + "\n"
            }
            for note in generation.notes { out += "Note: \(TerminalText.visible(note))\n" }
        }
        return out
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
