import ArgumentParser
import Diffusion
import Foundation
import Imaging

/// `stipple info IMAGE.png`: the generation parameters stored in a PNG.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the generation parameters stored in a PNG.",
        discussion: """
            Reads the `parameters` text that stipple, AUTOMATIC1111, Forge and stable-diffusion.cpp \
            write, and shows ComfyUI's `prompt` / `workflow` JSON as it is. --json prints one JSON \
            object: prompt, negative_prompt, parameters (the Key: value fields in order) and the \
            raw text chunks.
            """
    )

    @Argument(help: "The PNG file.")
    var image: String

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let file = try readPNG(image)
        let parameters = try file.text("parameters").map { text in
            do { return try Infotext.read(text) } catch { throw CommandFailure("\(image): \(error)") }
        }
        let comfy = file.texts.filter { ["prompt", "workflow"].contains($0.key) }
        if json {
            var object: [String: Any] = ["file": image, "width": file.image.width, "height": file.image.height]
            if let parameters {
                object["prompt"] = parameters.prompt
                object["negative_prompt"] = parameters.negativePrompt
                object["parameters"] = parameters.fields.map { ["key": $0.key, "value": $0.value] }
            }
            object["texts"] = Dictionary(file.texts.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try StandardOutput.write(Array(data) + [10])
            return
        }
        guard parameters != nil || !comfy.isEmpty else {
            throw CommandFailure("\(image): no generation parameters in this PNG (no `parameters`, `prompt` or `workflow` text)")
        }
        var out = ""
        if let parameters {
            out += "Prompt: \(parameters.prompt)\n"
            if !parameters.negativePrompt.isEmpty { out += "Negative prompt: \(parameters.negativePrompt)\n" }
            let width = parameters.fields.map(\.key.count).max() ?? 0
            for field in parameters.fields {
                out += field.key + ":" + String(repeating: " ", count: width - field.key.count + 1) + field.value + "\n"
            }
        }
        for text in comfy {
            out += "ComfyUI \(text.key):\n\(text.value)\n"
        }
        try StandardOutput.write(Array(out.utf8))
    }
}
