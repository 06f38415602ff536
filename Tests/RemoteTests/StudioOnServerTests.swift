import Diffusion
import Foundation
import Imaging
import Testing
@testable import Remote
@testable import Studio

/// The studio's controller and `stipple generate` on a server, end to end against the replay
/// server serving recorded exchanges: what a person sees (steps, previews, the timeline) and
/// what lands in the output folder (the image, its parameters, the server's texts), so the
/// gallery, `info` and `--from` work on it as on a local image.
@Suite(.serialized) struct StudioOnServerTests {
    static func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Drives `controller` like the studio's loop: drains its inbox until the job ended (at most
    /// 20 s), on a thread of its own as the studio's loop is: blocking one of Swift's concurrency
    /// threads (one per core) would hold the backend's own tasks.
    static func runJob(_ controller: GenerationController, _ request: GenerationRequest, state: inout StudioState) async {
        let box = Box((controller, state))
        await offThePool {
            var (controller, state) = box.value
            controller.submit(request, state: &state)
            let deadline = Date().addingTimeInterval(20)
            while controller.status.running, Date() < deadline {
                _ = controller.inbox.wait(seconds: 0.5)
                controller.drainEvents(into: &state)
            }
            box.value = (controller, state)
        }
        state = box.value.1
    }

    /// `body` on a dispatch thread, awaited.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func offThePool(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                body()
                continuation.resume()
            }
        }
    }

    /// A value handed between threads in turn (never at once).
    final class Box<T>: @unchecked Sendable {
        var value: T
        init(_ value: T) { self.value = value }
    }

    @_optimize(none) @Test func theStudioRunsAComfyUIJobAndSavesItsImage() async throws {
        let server = try ComfyUIBackendTests.server(["catalog.json", "txt2img.json"])
        let backend = try ComfyUIBackendTests.backend(server)
        let checkpoint = try await backend.checkpoint(named: "sd15")
        #expect(checkpoint == RemoteCheckpoint(name: "sd15-fp16-ldm.safetensors", server: "ComfyUI 0.8.0"))
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let controller = GenerationController(target: .remote(checkpoint), outputFolder: folder, backend: backend)
        var state = StudioState(modelName: checkpoint.name, width: 64, height: 64, gallery: Gallery(folder: folder))
        state.panel.setModel(.remote(checkpoint))
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 42)
        request.preview = .approx
        await Self.runJob(controller, request, state: &state)
        #expect(!controller.status.running)

        // The timeline has every step's preview, as the embedded engine's would.
        let timeline = try #require(state.current)
        #expect(timeline.frames.map(\.step) == [1, 2, 3, 4])
        #expect(timeline.frames.allSatisfy { $0.denoised != nil })
        #expect(timeline.final?.width == 64)

        // One PNG, in the gallery, carrying stipple's parameters (what ComfyUI did) and ComfyUI's graph.
        let saved = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }
        #expect(saved == ["00000-42.png"], "\(state.status)")
        let file = try PNG.read(path: folder.appendingPathComponent("00000-42.png").path)
        let parameters = try #require(file.text("parameters"))
        let again = try GenerationRequest(infotext: Infotext(parsing: parameters))
        #expect(again.seed == 42 && again.steps == 4 && again.cfgScale == 7 && again.width == 64 && again.sampler == .euler)
        #expect(again.samplingConvention == .kDiffusion && again.noiseSource == .cpu && again.noiseSeedDelta == 1)
        #expect(parameters.contains("Model: sd15-fp16-ldm.safetensors") && parameters.contains("Backend: ComfyUI 0.8.0"), "\(parameters)")
        #expect(file.text("prompt")?.contains("CheckpointLoaderSimple") == true)
        #expect(state.gallery.entries.contains { $0.name == "00000-42.png" })
    }

    /// An A1111 image keeps A1111's own parameters text, which reads back to the same settings.
    @_optimize(none) @Test func anA1111ImageKeepsTheServersParameters() async throws {
        let server = try A1111BackendTests.server(["a1111-catalog.json", "a1111-txt2img.json"])
        let backend = try A1111BackendTests.backend(server)
        let checkpoint = try await backend.checkpoint(named: nil)
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let controller = GenerationController(target: .remote(checkpoint), outputFolder: folder, backend: backend)
        var state = StudioState(modelName: checkpoint.name, width: 64, height: 64, gallery: Gallery(folder: folder))
        var request = GenerationRequest(prompt: "a red fox in the snow")
        request.negativePrompt = "blurry"
        (request.seed, request.steps, request.cfgScale, request.width, request.height) = (42, 30, 7, 64, 64)
        request.setSampler(try SamplerChoice(parsing: "DPM++ 2M Karras"))
        request.preview = .approx
        await Self.runJob(controller, request, state: &state)
        let saved = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }
        #expect(saved.count == 1, "\(state.status)")
        let file = try PNG.read(path: folder.appendingPathComponent(try #require(saved.first)).path)
        let parameters = try #require(file.text("parameters"))
        let replied = try A1111BackendTests.repliedImage("a1111-txt2img.json")
        #expect(parameters == (replied.info["infotexts"] as? [String])?.first)
        let again = try GenerationRequest(infotext: Infotext(parsing: parameters))
        #expect(again.seed == 42 && again.steps == 30 && again.samplingConvention == .kDiffusion)
        #expect(state.current?.final?.rgb == replied.0.rgb)
    }

    /// `stipple generate --backend comfyui`: the binary against the replay server, and against
    /// nothing (one line, a non-zero exit, nothing written).
    @Test func generateOnAServerFromTheCommandLine() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = ProcessInfo.processInfo.environment["STIPPLE_BINARY"] ?? root.appendingPathComponent(".build/release/stipple").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { return }
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        func run(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
            try await Self.offThePool { try Self.runBinary(binary, arguments, in: folder) }
        }
        let server = try ComfyUIBackendTests.server(["catalog.json", "txt2img.json"])
        let url = try server.address.description
        let made = try await run(["generate", "--backend", "comfyui", "--backend-url", url, "--model", "sd15",
                            "-p", "a red circle on a white background", "-n", "blurry", "-W", "64", "-H", "64", "--steps", "4",
                            "--seed", "42", "-o", "a.png"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stderr.contains("generating on ComfyUI at \(url) with sd15-fp16-ldm.safetensors"), "\(made.stderr)")
        let parameters = try PNG.read(path: folder.appendingPathComponent("a.png").path).text("parameters") ?? ""
        #expect(parameters.contains("Seed: 42") && parameters.contains("Backend: ComfyUI 0.8.0"), "\(parameters)")

        let nobody = try await run(["generate", "--backend", "comfyui", "--backend-url", "http://127.0.0.1:9", "-p", "x", "-o", "b.png"])
        #expect(nobody.status != 0)
        let lines = nobody.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("ComfyUI at http://127.0.0.1:9") && lines[0].contains("not reachable"), "\(nobody.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("b.png").path))
        let confused = try await run(["generate", "--backend-url", "http://127.0.0.1:9", "-p", "x"])
        #expect(confused.status != 0 && confused.stderr.contains("--backend-url needs --backend comfyui or a1111"), "\(confused.stderr)")
    }

    static func runBinary(_ binary: String, _ arguments: [String], in folder: URL) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.environment = ["XDG_CONFIG_HOME": folder.path, "PATH": "/usr/bin:/bin", "HOME": folder.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}
