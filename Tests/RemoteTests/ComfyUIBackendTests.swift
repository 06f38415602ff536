import Diffusion
import Foundation
import Imaging
import Synchronization
import Testing
@testable import Remote

/// `ComfyUIBackend` against the replay server serving the exchanges recorded with ComfyUI 0.8.0
/// (Fixtures/comfyui), and against it misbehaving: what the studio sees, and what the server was
/// sent.
///
/// The async tests are `@_optimize(none)`: Swift 6.3.1's optimizer crashes (signal 11, "while
/// splitting coroutine") on them in release builds. Servers stop when released (`deinit`).
@Suite struct ComfyUIBackendTests {
    /// Short waits, so that failures come within a test's time.
    static let timing: ComfyUIBackend.Timing = {
        var timing = ComfyUIBackend.Timing()
        (timing.request, timing.connect, timing.serverGone) = (.seconds(2), .seconds(2), .seconds(1))
        (timing.poll, timing.liveness, timing.interruptWait, timing.tick) = (.milliseconds(100), .seconds(5), .seconds(2), .milliseconds(20))
        return timing
    }()

    static let checkpoint = RemoteCheckpoint(name: "sd15-fp16-ldm.safetensors", server: "ComfyUI 0.8.0")

    /// A replay server for the exchanges of `files`, one after another.
    static func server(_ files: [String], edit: (inout ReplayFixture) throws -> Void = { _ in }) throws -> ReplayServer {
        var fixture = ReplayFixture(server: "ComfyUI 0.8.0")
        for file in files {
            fixture.exchanges += try ReplayFixture.load("comfyui/\(file)").exchanges
        }
        try edit(&fixture)
        return try ReplayServer(fixture: fixture)
    }

    static func backend(_ server: ReplayServer, workflow: Data? = nil) throws -> ComfyUIBackend {
        try ComfyUIBackend(connection: RemoteConnection(address: server.address, serverName: "ComfyUI", connectTimeout: .seconds(2)),
                           workflow: workflow, timing: timing)
    }

    /// Every event of a job, until it ends (at most 15 s); `cancelAt` cancels when it says so.
    final class Log: Sendable {
        private let events = Mutex<[GenerationEvent]>([])
        var all: [GenerationEvent] { events.withLock { $0 } }
        func add(_ event: GenerationEvent) { events.withLock { $0.append(event) } }
        var ended: Bool {
            all.contains { event in
                switch event {
                case .finished, .failed, .cancelled: true
                default: false
                }
            }
        }
    }

    static func run(_ backend: ComfyUIBackend, _ request: GenerationRequest, checkpoint: RemoteCheckpoint = checkpoint,
                    cancelAt: (@Sendable (GenerationEvent) -> Bool)? = nil) async throws -> (events: [GenerationEvent], seconds: Double) {
        let log = Log()
        let start = ContinuousClock.now
        let holder = Mutex<GenerationControl?>(nil)
        let control = backend.submit(request, target: .remote(checkpoint)) { event in
            log.add(event)
            if let cancelAt, cancelAt(event) { holder.withLock { $0?.cancel() } }
        }
        holder.withLock { $0 = control }
        while !log.ended, ContinuousClock.now - start < .seconds(15) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(log.ended, "the job ended within 15 s")
        return (log.all, ComfyUIRun.seconds(ContinuousClock.now - start))
    }

    static func trace(_ events: [GenerationEvent]) -> [String] { ComfyUIJobTests.trace(events) }

    /// The POST /prompt bodies the server received.
    static func posted(_ server: ReplayServer) -> [[String: Any]] {
        server.requests.filter { $0.method == "POST" && $0.path == "/prompt" }.compactMap(\.json)
    }

    /// The PNG a recorded /view served.
    static func viewedPNG(_ file: String, name: String) throws -> PNGFile {
        let fixture = try ComfyUIFixture.load(file)
        let exchange = try #require(fixture.exchanges.first { ($0["query"] as? [String: Any])?["filename"] as? String == name })
        let base64 = try #require(exchange["body_base64"] as? String)
        let data = try #require(Data(base64Encoded: base64))
        return try PNG.decode([UInt8](data))
    }

    static func failure(_ events: [GenerationEvent]) -> String? {
        events.lazy.compactMap { if case .failed(let line) = $0 { line } else { nil } }.first
    }

    // MARK: Recorded jobs

    @_optimize(none) @Test func catalogReadsTheServersLists() async throws {
        let server = try Self.server(["catalog.json"])
        let backend = try Self.backend(server)
        #expect(backend.capabilities == BackendCapabilities(name: "ComfyUI", canPause: false))
        let catalog = try await backend.catalog()
        #expect(catalog.version == "0.8.0" && catalog.serverName == "ComfyUI 0.8.0")
        #expect(catalog.checkpoints == [RemoteCheckpoint(name: "sd15-fp16-ldm.safetensors", server: "ComfyUI 0.8.0")])
        #expect(catalog.checkpoints.first?.family == .sd1)
        #expect(catalog.samplers.count == 44 && catalog.samplers.first == "euler" && catalog.samplers.contains("dpmpp_2m"))
        #expect(catalog.schedulers.count == 9 && catalog.schedulers.contains("karras"))
        #expect(catalog.loras == ["stipple_broken_lora.safetensors", "stipple_tiny_lora.safetensors"])
        #expect(backend.capabilities == BackendCapabilities(name: "ComfyUI 0.8.0", canPause: false))
        #expect(server.unmatched.isEmpty)
    }

    @_optimize(none) @Test func txt2imgGivesStepsWithPreviewsAndTheServersImage() async throws {
        let server = try Self.server(["catalog.json", "txt2img.json"])
        let backend = try Self.backend(server)
        _ = try await backend.catalog()
        let (events, _) = try await Self.run(backend, ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.trace(events) == [
            "started 0 seed 42 steps 4", "step 0:1/4 512x512", "step 0:2/4 512x512", "step 0:3/4 512x512", "step 0:4/4 512x512",
            "decoding 0", "image 0", "finished",
        ])
        // The image is the PNG /view served, pixel for pixel, with its `prompt` text kept.
        let png = try Self.viewedPNG("txt2img.json", name: "stipple_00001_.png")
        let image = try #require(events.lazy.compactMap { if case .image(let image) = $0 { image } else { nil } }.first)
        #expect(image.image.width == 64 && image.image.height == 64)
        #expect(image.image.rgb == png.image.flattened().pixels)
        #expect(image.serverRecord == ServerRecord(server: "ComfyUI 0.8.0", infotext: nil,
                                                   texts: [PNGTextPair(key: "prompt", value: try #require(png.text("prompt")))]))
        #expect(image.latents == nil && image.seed == 42)
        let resolved = image.request
        #expect(resolved.seed == 42 && resolved.width == 64 && resolved.height == 64 && resolved.sampler == .euler)
        #expect(resolved.samplingConvention == .kDiffusion && resolved.noiseSource == .cpu && resolved.noiseSeedDelta == 1)
        if case .finished(let images)? = events.last { #expect(images.count == 1) }

        // What /prompt was sent: the recorded graph, our client id (the socket's) and prompt id.
        let body = try #require(Self.posted(server).first)
        let recorded = try #require(ComfyUIFixture.load("txt2img.json").postedPrompts.first)
        #expect(try ComfyUIWorkflowTests.sameJSON(try #require(body["prompt"]), recorded))
        let socket = try #require(server.requests.first { $0.path == "/ws" })
        #expect(body["client_id"] as? String == socket.query["clientId"] && socket.query["clientId"]?.isEmpty == false)
        #expect((body["prompt_id"] as? String)?.hasPrefix("stipple-") == true)
        #expect((body["extra_data"] as? [String: Any])?["preview_method"] as? String == "latent2rgb")
        #expect(server.unmatched.isEmpty && server.problems.isEmpty)
    }

    @_optimize(none) @Test func previewsOffAreAskedForAsNone() async throws {
        let server = try Self.server(["txt2img_no_preview.json"])
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 43)
        request.preview = .off
        let (events, _) = try await Self.run(try Self.backend(server), request)
        #expect(Self.trace(events) == ["started 0 seed 43 steps 4", "step 0:1/4", "step 0:2/4", "step 0:3/4", "step 0:4/4",
                                       "decoding 0", "image 0", "finished"])
        #expect((Self.posted(server).first?["extra_data"] as? [String: Any])?["preview_method"] as? String == "none")
    }

    @_optimize(none) @Test func img2imgUploadsTheInitImageThenRuns() async throws {
        let server = try Self.server(["img2img.json"])
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 46)
        request.initImage = PixelImage(width: 64, height: 64, rgb: (0..<(64 * 64 * 3)).map { UInt8($0 % 251) })
        request.strength = 0.6
        let (events, _) = try await Self.run(try Self.backend(server), request)
        #expect(Self.trace(events).suffix(3) == ["decoding 0", "image 0", "finished"])
        let order = server.requests.map { "\($0.method) \($0.path)" }
        #expect(order.prefix(3) == ["POST /upload/image", "GET /ws", "POST /prompt"])
        let upload = try #require(server.requests.first)
        #expect(upload.headers["content-type"]?.hasPrefix("multipart/form-data; boundary=") == true)
        let form = String(decoding: upload.body, as: UTF8.self)
        #expect(form.contains("name=\"image\"; filename=\"stipple_init.png\"") && form.contains("name=\"overwrite\"\r\n\r\nfalse"))
        // The PNG in the form is the init image.
        let pngStart = try #require(upload.body.firstRange(of: [0x89, 0x50, 0x4E, 0x47]))
        let uploaded = try PNG.decode(Array(upload.body[pngStart.lowerBound...]))
        #expect(uploaded.image.pixels == request.initImage?.rgb)
        let recorded = try #require(ComfyUIFixture.load("img2img.json").postedPrompts.first)
        #expect(try ComfyUIWorkflowTests.sameJSON(try #require(Self.posted(server).first?["prompt"]), recorded))
    }

    @_optimize(none) @Test func loraTagsBecomeTheRecordedLoraLoader() async throws {
        let server = try Self.server(["catalog.json", "lora.json"])
        let backend = try Self.backend(server)
        _ = try await backend.catalog()
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 47)
        request.prompt += " <lora:stipple_tiny_lora:0.8>"
        let (events, _) = try await Self.run(backend, request)
        #expect(Self.trace(events).suffix(2) == ["image 0", "finished"])
        let recorded = try #require(ComfyUIFixture.load("lora.json").postedPrompts.first)
        #expect(try ComfyUIWorkflowTests.sameJSON(try #require(Self.posted(server).first?["prompt"]), recorded))
    }

    @_optimize(none) @Test func aBatchIsOnePromptPerImageAtConsecutiveSeeds() async throws {
        let server = try Self.server(["txt2img_ancestral_batch.json"])
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 44)
        (request.sampler, request.schedule, request.batchCount) = (.eulerA, .karras, 2)
        let (events, _) = try await Self.run(try Self.backend(server), request)
        #expect(Self.trace(events) == [
            "started 0 seed 44 steps 4", "step 0:1/4 64x64", "step 0:2/4 64x64", "step 0:3/4 64x64", "step 0:4/4 64x64", "decoding 0",
            "image 0",
            "started 1 seed 45 steps 4", "step 1:1/4 64x64", "step 1:2/4 64x64", "step 1:3/4 64x64", "step 1:4/4 64x64", "decoding 1",
            "image 1", "finished",
        ])
        let recorded = try ComfyUIFixture.load("txt2img_ancestral_batch.json").postedPrompts
        let sent = Self.posted(server).compactMap { $0["prompt"] }
        #expect(sent.count == 2)
        for (graph, expected) in zip(sent, recorded) { #expect(try ComfyUIWorkflowTests.sameJSON(graph, expected)) }
        let images = events.compactMap { if case .image(let image) = $0 { image } else { nil } }
        #expect(images.map(\.seed) == [44, 45] && images.map(\.request.seed) == [44, 45] && images.map(\.imageIndex) == [0, 1])
        #expect(images.allSatisfy { $0.request.sampler == .eulerA && $0.request.batchCount == 1 })
    }

    @_optimize(none) @Test func cancellingInterruptsTheRunningPrompt() async throws {
        let server = try Self.server(["interrupt.json"])
        let fixture = try ComfyUIFixture.load("interrupt.json")
        let graph = try #require(fixture.postedPrompts.first)
        var request = ComfyUIWorkflowTests.recordedRequest(seed: try #require(MetadataJSON.integerText(((graph["3"] as? [String: Any])?["inputs"] as? [String: Any])?["seed"]).flatMap { UInt64($0) }))
        request.steps = 20
        let (events, seconds) = try await Self.run(try Self.backend(server), request) { event in
            if case .step(let step) = event { return step.step == 1 }
            return false
        }
        #expect(Self.trace(events) == ["started 0 seed \(request.seed ?? 0) steps 20", "step 0:1/20 64x64", "cancelled"])
        let interrupt = try #require(server.requests.first { $0.method == "POST" && $0.path == "/interrupt" })
        #expect(interrupt.json?["prompt_id"] as? String == fixture.promptIDs.first)
        #expect(!server.requests.contains { $0.path == "/queue" }, "nothing queued to delete")
        #expect(seconds < 5)
    }

    @_optimize(none) @Test func aRunTimeErrorFailsNamingTheNodeWithoutTheTraceback() async throws {
        let server = try Self.server(["catalog.json", "execution_error.json"])
        let backend = try Self.backend(server)
        _ = try await backend.catalog()
        var request = ComfyUIWorkflowTests.recordedRequest(seed: 50)
        request.prompt += " <lora:stipple_broken_lora:0.8>"
        let (events, _) = try await Self.run(backend, request)
        let line = try #require(Self.failure(events))
        #expect(line == "ComfyUI at \(try server.address): LoraLoader failed: Error while deserializing header: header too large")
        #expect(!line.contains("File") && !line.contains("/work/") && !line.contains("\n"))
    }

    @Test func validationErrorsAreOneLine() throws {
        let fixture = try ComfyUIFixture.load("errors.json")
        let bodies = fixture.exchanges.filter { $0["path"] as? String == "/prompt" }.compactMap { $0["body_json"] as? [String: Any] }
        #expect(bodies.map(ComfyUIReplies.promptRefusal) == [
            "CheckpointLoaderSimple: Value not in list: ckpt_name: 'no_such_model.safetensors' not in ['sd15-fp16-ldm.safetensors']",
            "Cannot execute because node NoSuchNodeClass does not exist.: Node ID '#8'",
            "EmptyLatentImage: Value 8 smaller than min of 16: height (and 1 more)",
            "KSampler: Value not in list: sampler_name: 'no_such_sampler' not in (list of length 44)",
            "No prompt provided",
        ])
        #expect(ComfyUIReplies.promptRefusal([:]) == "no reason given")
        #expect(ComfyUIReplies.promptRefusal(["error": ["message": "a\u{1B}[2Jb\nc"]]) == "a\\e[2Jb c")
    }

    @_optimize(none) @Test func aRefusedPromptFailsWithTheServersReason() async throws {
        let server = try Self.server([]) { fixture in
            let socket = try ReplayFixture.load("comfyui/txt2img.json").exchanges.filter { $0.path == "/ws" }
            let refusal = try ReplayFixture.load("comfyui/errors.json").exchanges.filter { $0.path == "/prompt" }.prefix(1)
            fixture.exchanges = socket + refusal
        }
        let (events, _) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 1),
                                             checkpoint: RemoteCheckpoint(name: "no_such_model.safetensors", server: "ComfyUI 0.8.0"))
        #expect(Self.failure(events) == "ComfyUI at \(try server.address) refused the prompt: CheckpointLoaderSimple: Value not in list: "
                + "ckpt_name: 'no_such_model.safetensors' not in ['sd15-fp16-ldm.safetensors']")
        #expect(Self.posted(server).count == 1)
    }

    // MARK: Failures

    @_optimize(none) @Test func aServerErrorOnPromptFailsAndIsNotRetried() async throws {
        let server = try Self.server(["txt2img.json"])
        server.script("POST", "/prompt", .status(500, "{\"error\": \"out of memory\"}"))
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        let line = try #require(Self.failure(events))
        #expect(line.contains("POST /prompt") && line.contains("500") && line.contains("out of memory"))
        #expect(server.requests.filter { $0.path == "/prompt" }.count == 1)
        #expect(seconds < 5)
    }

    @_optimize(none) @Test func aLostPromptReplyIsLookedForNotSentTwice() async throws {
        let server = try Self.server(["txt2img.json"])
        server.script("POST", "/prompt", .drop)
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        let line = try #require(Self.failure(events))
        #expect(line.contains("POST /prompt") && line.contains("not sent again"))
        #expect(server.requests.filter { $0.path == "/prompt" }.count == 1)
        #expect(server.requests.contains { $0.method == "GET" && $0.path == "/queue" })
        #expect(seconds < 5)
    }

    @_optimize(none) @Test func aDroppedSocketStillDeliversTheImageFromHistory() async throws {
        let server = try Self.server(["txt2img.json"])
        server.scriptWebSocket("/ws", .dropAfter(12))  // after execution_start, before any progress
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.trace(events) == ["started 0 seed 42 steps 4", "image 0", "finished"])
        let png = try Self.viewedPNG("txt2img.json", name: "stipple_00001_.png")
        let image = try #require(events.lazy.compactMap { if case .image(let image) = $0 { image } else { nil } }.first)
        #expect(image.image.rgb == png.image.flattened().pixels)
        // Reopened at most once, under a new client id (the history poll may find the image first).
        let sockets = server.requests.filter { $0.path == "/ws" }.compactMap { $0.query["clientId"] }
        #expect((1...2).contains(sockets.count) && Set(sockets).count == sockets.count)
        #expect(seconds < 5)
    }

    @_optimize(none) @Test func framesStippleCannotReadFallBackToHistory() async throws {
        let server = try Self.server(["txt2img.json"]) { fixture in
            guard let i = fixture.exchanges.firstIndex(where: { $0.path == "/ws" }), var frames = fixture.exchanges[i].frames else { return }
            let garbage = [ReplayFixture.Frame(payload: .text("{\"type\": \"progress\", \"data\": {\"value\": \"x\"}}"), waitFor: "POST /prompt"),
                           ReplayFixture.Frame(payload: .binary([0, 0, 0, 1, 0, 0]), waitFor: "POST /prompt"),
                           ReplayFixture.Frame(payload: .text("not json at all {"), waitFor: "POST /prompt")]
            frames.insert(contentsOf: garbage, at: 5)
            fixture.exchanges[i].frames = frames
        }
        let (events, _) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.trace(events).suffix(2) == ["image 0", "finished"])
    }

    @_optimize(none) @Test func brokenWebSocketFramesMidJobFallBackToHistory() async throws {
        let server = try Self.server(["txt2img.json"]) { fixture in
            guard let i = fixture.exchanges.firstIndex(where: { $0.path == "/ws" }), let frames = fixture.exchanges[i].frames else { return }
            fixture.exchanges[i].frames = Array(frames.prefix(12))
        }
        server.scriptWebSocket("/ws", .badOpcode)
        let (events, _) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.trace(events).suffix(2) == ["image 0", "finished"])
    }

    @_optimize(none) @Test func aServerThatStopsAnsweringFailsWithinTheBound() async throws {
        let server = try Self.server(["txt2img.json"])
        let id = try #require(try ComfyUIFixture.load("txt2img.json").promptIDs.first)
        server.scriptWebSocket("/ws", .dropAfter(12))
        server.script("GET", "/history/\(id)", .hang)
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        let line = try #require(Self.failure(events))
        #expect(line.hasPrefix("ComfyUI at \(try server.address) stopped answering: "), "\(line)")
        #expect(seconds < 8)
    }

    @_optimize(none) @Test func aWebSocketWithoutStatusFailsWithinTheBound() async throws {
        let server = try Self.server([]) { fixture in
            fixture.exchanges = [ReplayFixture.Exchange(method: "GET", path: "/ws", frames: [])]
        }
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.failure(events)?.contains("no status message within") == true)
        #expect(!server.requests.contains { $0.path == "/prompt" })
        #expect(seconds < 5)
    }

    @_optimize(none) @Test func aHangingPromptRequestFailsWithinTheBound() async throws {
        let server = try Self.server(["txt2img.json"])
        server.script("POST", "/prompt", .hang)
        let (events, seconds) = try await Self.run(try Self.backend(server), ComfyUIWorkflowTests.recordedRequest(seed: 42))
        let line = try #require(Self.failure(events))
        #expect(line.contains("POST /prompt") && line.contains("not sent again"))
        #expect(seconds < 8)
    }

    @_optimize(none) @Test func aRefusedConnectionFailsAtOnce() async throws {
        let address = try ServerAddress(parsing: "http://127.0.0.1:\(closedPort())")
        let backend = try ComfyUIBackend(connection: RemoteConnection(address: address, serverName: "ComfyUI"), timing: Self.timing)
        let (events, seconds) = try await Self.run(backend, ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.failure(events)?.hasPrefix("ComfyUI at \(address): WebSocket /ws") == true)
        #expect(Self.failure(events)?.contains("connection refused") == true)
        #expect(seconds < 3)
        await #expect(throws: RemoteError.self) { _ = try await backend.catalog() }
    }

    @Test func aWorkflowInUIFormatOrNotJSONIsRefused() throws {
        let backend = try ComfyUIBackend(connection: RemoteConnection(address: ServerAddress(parsing: "http://127.0.0.1:1"), serverName: "ComfyUI"))
        let ui = Data("{\"nodes\": [], \"links\": []}".utf8)
        #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIBackend(connection: backend.connection, workflow: ui) }
        #expect(throws: ComfyUIWorkflowError.self) { try ComfyUIBackend(connection: backend.connection, workflow: Data("[1]".utf8)) }
    }

    @_optimize(none) @Test func aSavedWorkflowRunsWithThePromptAndSeedFilledIn() async throws {
        let server = try Self.server(["txt2img.json"])
        let saved = try #require(ComfyUIFixture.load("txt2img.json").postedPrompts.first)
        var workflow = saved
        var sampler = try #require(workflow["3"] as? [String: Any])
        var inputs = try #require(sampler["inputs"] as? [String: Any])
        inputs["seed"] = 1
        sampler["inputs"] = inputs
        workflow["3"] = sampler
        let backend = try Self.backend(server, workflow: try JSONSerialization.data(withJSONObject: workflow))
        let (events, _) = try await Self.run(backend, ComfyUIWorkflowTests.recordedRequest(seed: 42))
        #expect(Self.trace(events).suffix(2) == ["image 0", "finished"])
        #expect(try ComfyUIWorkflowTests.sameJSON(try #require(Self.posted(server).first?["prompt"]), saved))
    }
}
