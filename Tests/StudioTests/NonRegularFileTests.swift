import Diffusion
import Foundation
import Imaging
import Testing
@testable import Studio

/// Runs `body` on another thread and says whether it finished within `seconds`. When it did not
/// (it is blocked opening `fifo` for reading, as a plain `open` does), a writer opens the FIFO so
/// the thread can end and the test fails instead of hanging.
func finishes(within seconds: Double, unblocking fifo: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .success { return true }
    for _ in 0..<50 {  // the reader may open it again (a second attempt): keep unblocking
        let writer = open(fifo, O_WRONLY | O_NONBLOCK)
        if writer >= 0 { close(writer) }
        if done.wait(timeout: .now() + 0.1) == .success { break }
    }
    return false
}

/// A FIFO (or another non-regular file) given where stipple reads a file is refused at once with
/// one line naming the path, never waited on (issue 12, finding 6).
@Suite struct NonRegularFileTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-fifo-\(UUID().uuidString)")

    func fifo(_ name: String) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        #expect(mkfifo(path, 0o600) == 0)
        return path
    }

    /// `body` must fail quickly with a message containing `message`.
    func refuses(_ path: String, _ message: String = "is not a regular file (a FIFO)",
                 _ body: @escaping @Sendable () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        let box = UnsafeSendableBox<String?>(nil)
        let finished = finishes(within: 5, unblocking: path) {
            do { try body(); box.value = "no error" } catch { box.value = "\(error)" }
        }
        #expect(finished, "blocked on \(path)", sourceLocation: sourceLocation)
        let text = box.value ?? ""
        #expect(text.contains(message) && text.contains(path) && !text.contains("\n"), "\(text)", sourceLocation: sourceLocation)
    }

    @Test func pngsInfoAndInitImages() throws {
        let path = try fifo("image.png")
        defer { try? FileManager.default.removeItem(at: folder) }
        refuses(path) { _ = try PNG.read(path: path) }
        refuses(path) { _ = try PNG.readHeader(path: path) }
        refuses(path) { _ = try PNG.readAllTexts(path: path) }
        refuses(path) { _ = try InitImage.load(path: path, width: nil, height: nil) }
    }

    @Test func modelsWeightsConfigsAndTokenizers() throws {
        let weights = try fifo("model.safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        refuses(weights) { _ = try SafetensorsFile(path: weights) }
        refuses(weights) { _ = try ModelLocator.load(path: weights) }
        refuses(weights) { _ = try SHA256.hex(file: weights) }
        let config = try fifo("scheduler_config.json")
        refuses(config) { _ = try SchedulerConfig.read(from: config) }
        let tokenizer = folder.appendingPathComponent("tokenizer")
        try FileManager.default.createDirectory(at: tokenizer, withIntermediateDirectories: true)
        let vocab = tokenizer.appendingPathComponent("vocab.json").path
        #expect(mkfifo(vocab, 0o600) == 0)
        try Data("#version: 0.2\n".utf8).write(to: tokenizer.appendingPathComponent("merges.txt"))
        refuses(vocab) { _ = try CLIPTokenizer(folder: tokenizer.path) }
    }

    @Test func configFile() throws {
        let path = try fifo("config.toml")
        defer { try? FileManager.default.removeItem(at: folder) }
        refuses(path) { _ = try StudioConfig.load(path: path) }
        // A folder where the file should be is refused too; a missing file is no settings.
        #expect(throws: StudioConfig.LoadError.self) { try StudioConfig.load(path: folder.path) }
        #expect(try StudioConfig.load(path: folder.appendingPathComponent("none.toml").path) == StudioConfig())
    }
}
