// The studio with a deliberate Swift runtime error right after its first frame, for the
// end-to-end test that the terminal survives one (StudioEndToEndTests.aRuntimeErrorStillRestoresTheTerminal;
// docs/DECISIONS.md). Built with the tests, never part of `stipple`: the production binary has no
// way to trap on purpose.
//
//   StudioTrapHarness --model FOLDER --output-dir FOLDER [other options, ignored]
import Diffusion
import Foundation
@_spi(Testing) import Studio
import Terminal

func value(after option: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: option), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
guard let modelPath = value(after: "--model"), let outputPath = value(after: "--output-dir") else {
    FileHandle.standardError.write(Data("usage: StudioTrapHarness --model FOLDER --output-dir FOLDER\n".utf8))
    exit(2)
}
do {
    let model = try StableDiffusionModel(folder: modelPath)
    let theme = try Theme.load(named: "dark", from: root.appendingPathComponent("themes"))
    StudioApp.afterFirstFrame = {
        let empty: [Int] = []
        _ = empty[Int(getpid()) % 2 + 1]
    }
    let app = StudioApp(model: model, options: StudioApp.Options(
        graphics: .truecolor, cellSize: nil, theme: theme, outputFolder: URL(fileURLWithPath: outputPath),
        initial: GenerationRequest(prompt: "")))
    exit(app.run())
} catch {
    FileHandle.standardError.write(Data("StudioTrapHarness: \(error)\n".utf8))
    exit(1)
}
