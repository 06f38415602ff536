import Diffusion
import Foundation
import Imaging
import Synchronization
import Testing
@testable import Remote

/// The A1111 backend against the replay server serving recorded exchanges: sd-server's, recorded
/// live, and AUTOMATIC1111's, shaped from its source (Fixtures/a1111/README.md). What a user sees:
/// the events, the image's pixels, what is saved with it, and one-line failures. Each test is
/// bounded by short timeouts.
@Suite struct A1111BackendTests {
    // MARK: Helpers

    /// A replay server serving the exchanges of `files` (under Fixtures/a1111) in order, less those
    /// `drop` says. Only the last file's progress polls are kept (the catalog's idle one repeats).
    static func server(_ files: [String], drop: (ReplayFixture.Exchange) -> Bool = { _ in false }) throws -> ReplayServer {
        var fixture = ReplayFixture()
        for (index, file) in files.enumerated() {
            let loaded = try ReplayFixture.load("a1111/\(file)")
            fixture.server = loaded.server
            let isLast = index == files.count - 1
            fixture.exchanges += loaded.exchanges.filter { !drop($0) && (isLast || $0.path != "/sdapi/v1/progress") }
        }
        return try ReplayServer(fixture: fixture)
    }

    static func backend(_ server: ReplayServer, credentials: Credentials = .none, jobTimeout: Duration = .seconds(10)) throws -> A1111Backend {
        let connection = RemoteConnection(address: try server.address, credentials: credentials, serverName: "A1111 API")
        return A1111Backend(connection: connection, pollInterval: .milliseconds(20), jobTimeout: jobTimeout, requestTimeout: .seconds(2))
    }

    /// Collects a job's events until its last one (finished, failed, cancelled), at most `limit`;
    /// `onEvent` may act on the job while it runs (cancel it).
    static func run(_ backend: A1111Backend, _ request: GenerationRequest, target: ModelTarget, limit: Duration = .seconds(10),
                    cancelAtOnce: Bool = false, onEvent: @escaping @Sendable (GenerationEvent, GenerationControl) -> Void = { _, _ in }) async -> [GenerationEvent] {
        let (stream, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
        let control = Mutex<GenerationControl?>(nil)
        let pending = Mutex<[GenerationEvent]>([])
        let started = backend.submit(request, target: target) { event in
            continuation.yield(event)
            if let control = control.withLock({ $0 }) { onEvent(event, control) } else { pending.withLock { $0.append(event) } }
            switch event {
            case .finished, .failed, .cancelled: continuation.finish()
            default: break
            }
        }
        control.withLock { $0 = started }
        if cancelAtOnce { started.cancel() }
        for event in pending.withLock({ $0 }) { onEvent(event, started) }
        let timeout = Task {
            try? await Task.sleep(for: limit)
            continuation.finish()
        }
        var events: [GenerationEvent] = []
        for await event in stream { events.append(event) }
        timeout.cancel()
        return events
    }

    static func images(_ events: [GenerationEvent]) -> [GeneratedImage] {
        events.compactMap { if case .image(let image) = $0 { image } else { nil } }
    }

    static func warnings(_ events: [GenerationEvent]) -> [String] {
        events.compactMap { if case .warning(let text) = $0 { text } else { nil } }
    }

    static func steps(_ events: [GenerationEvent]) -> [StepProgress] {
        events.compactMap { if case .step(let step) = $0 { step } else { nil } }
    }

    /// The one-line failure that ends `events`.
    static func failure(_ events: [GenerationEvent]) -> String? {
        guard case .failed(let message)? = events.last else {
            Issue.record("expected .failed last, got \(events.last.map { "\($0)" } ?? "nothing")")
            return nil
        }
        #expect(!message.contains("\n") && !message.unicodeScalars.contains { $0.value < 0x20 }, "\(message)")
        return message
    }

    /// The pixels of the base64 PNG that the `index`-th reply to `path` in `file` holds.
    static func repliedImage(_ file: String, path: String = "/sdapi/v1/txt2img", reply index: Int = 0, image: Int = 0) throws -> (PixelImage, info: [String: Any]) {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/a1111/\(file)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let replies = (root["exchanges"] as? [[String: Any]] ?? []).filter { $0["path"] as? String == path && $0["method"] as? String == "POST" }
        let body = try #require(replies[index]["body_json"] as? [String: Any])
        let base64 = try #require((body["images"] as? [String])?[image])
        let png = try PNG.decode([UInt8](try #require(Data(base64Encoded: base64))))
        let info = try #require(try JSONSerialization.jsonObject(with: Data((body["info"] as? String ?? "").utf8)) as? [String: Any])
        return (PixelImage(width: png.image.width, height: png.image.height, rgb: png.image.flattened().pixels), info)
    }

    static let sdcppModel = ModelTarget.remote(RemoteCheckpoint(name: "sd15-fp16-ldm", server: "stable-diffusion.cpp sd-server"))
    static let a1111Model = ModelTarget.remote(RemoteCheckpoint(name: "v1-5-pruned-emaonly.safetensors [6ce0161689]", hash: "6ce0161689",
                                                                server: "A1111 API (AUTOMATIC1111)"))

    static func request(_ configure: (inout GenerationRequest) -> Void = { _ in }) -> GenerationRequest {
        A1111PayloadTests.request(configure)
    }

    static func posts(_ server: ReplayServer, _ path: String = "/sdapi/v1/txt2img") -> [[String: Any]] {
        server.requests.filter { $0.method == "POST" && $0.path == path }.compactMap(\.json)
    }

    // MARK: sd-server

    @Test func sdcppCatalogIdentifiesTheServer() async throws {
        let server = try Self.server(["sdcpp-catalog.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        #expect(backend.capabilities.name == "A1111 API")
        let catalog = try await backend.catalog()
        #expect(catalog.flavor == .stableDiffusionCpp)
        #expect(catalog.current == RemoteCheckpoint(name: "sd15-fp16-ldm", server: "stable-diffusion.cpp sd-server"))
        #expect(catalog.samplers.count == 22 && catalog.schedulers?.count == 18 && catalog.loras.count == 1)
        #expect(catalog.maxWidth == 4096 && catalog.maxHeight == 4096)
        #expect(backend.capabilities == BackendCapabilities(name: "stable-diffusion.cpp sd-server", canPause: false))
        #expect(server.requests.contains { $0.path == "/sdcpp/v1/capabilities" })
    }

    @Test func forgeSDNextAndOldA1111AreToldApart() async throws {
        let forge = try Self.server(["a1111-catalog.json"])
        defer { forge.stop() }
        forge.script("GET", "/sdapi/v1/sd-modules", .status(200, "[]"))
        let catalog = try await Self.backend(forge).catalog()
        #expect(catalog.flavor == .forge && catalog.serverName == "A1111 API (Forge)" && catalog.schedulers?.count == 12)

        let sdNext = try Self.server(["a1111-catalog.json"])
        defer { sdNext.stop() }
        sdNext.script("GET", "/sdapi/v1/version", .status(200, "{\"app\": \"sd.next\", \"updated\": \"2025-01-29\", \"hash\": \"6a2d9ab\"}"))
        let sdNextCatalog = try await Self.backend(sdNext).catalog()
        #expect(sdNextCatalog.flavor == .sdNext && sdNextCatalog.serverName == "A1111 API (SD.Next 2025-01-29)")

        // A1111 before 1.9: no /schedulers (the replay answers 404 for what it does not have).
        let old = try Self.server(["a1111-catalog.json"], drop: { $0.path == "/sdapi/v1/schedulers" })
        defer { old.stop() }
        let oldCatalog = try await Self.backend(old).catalog()
        #expect(oldCatalog.flavor == .automatic1111 && oldCatalog.schedulers == nil)
        #expect(oldCatalog.current?.name == "v1-5-pruned-emaonly.safetensors [6ce0161689]")
    }

    @Test func sdcppTxt2img() async throws {
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-txt2img.json"])
        defer { server.stop() }
        // The recorded job took seconds; here a fraction, time for a progress poll.
        server.script("POST", "/sdapi/v1/txt2img", .slow(.milliseconds(200)))
        let backend = try Self.backend(server)
        let request = Self.request { $0.schedule = .uniform }
        let events = await Self.run(backend, request, target: Self.sdcppModel)

        guard case .finished(let finished)? = events.last else { Issue.record("\(events)"); return }
        let image = try #require(Self.images(events).first)
        #expect(finished.count == 1)
        let (pixels, info) = try Self.repliedImage("sdcpp-txt2img.json")
        #expect(image.image == pixels)
        #expect(image.seed == 42 && image.imageIndex == 0 && image.latents == nil)
        // No progress on sd-server: a start, a warning once, no steps.
        #expect(events.contains { if case .started(let start) = $0 { start.seed == 42 && start.steps == 4 } else { false } })
        #expect(Self.warnings(events).filter { $0 == "stable-diffusion.cpp's sd-server reports no progress" }.count == 1)
        #expect(Self.steps(events).isEmpty)

        // What ran: k-diffusion, its cuda generator (A1111's Philox: stipple's gpu noise), said in a warning.
        #expect(image.request.samplingConvention == .kDiffusion)
        #expect(image.request.noiseSource == .gpu)
        #expect(Self.warnings(events).contains { $0.contains("--rng") && $0.contains("gpu noise") })
        #expect(image.request.sampler == .euler && image.request.schedule == .model)
        // sd-server's own text is kept beside stipple's, which is what reads back.
        let theirs = try #require((info["infotexts"] as? [String])?.first)
        #expect(image.serverRecord == ServerRecord(server: "stable-diffusion.cpp sd-server", infotext: nil,
                                                   texts: [PNGTextPair(key: "sdcpp_parameters", value: theirs)]))
        let ours = Infotext(image: image, target: Self.sdcppModel, modelHash: nil, version: "stipple test")
        let back = try GenerationRequest(infotext: Infotext(parsing: ours.text))
        #expect(back.seed == 42 && back.steps == 4 && back.cfgScale == 7 && back.sampler == .euler && back.noiseSource == .gpu)
        #expect(back.samplingConvention == .kDiffusion && back.width == 64 && back.negativePrompt == "blurry")

        let sent = try #require(Self.posts(server).first)
        #expect(sent["sampler_name"] as? String == "euler" && sent["scheduler"] as? String == "discrete")
        #expect(sent["seed"] as? Int == 42 && sent["override_settings"] == nil && sent["n_iter"] as? Int == 1)
        // Polling stopped at the first 404.
        #expect(server.requests.filter { $0.path == "/sdapi/v1/progress" }.count == 1)
    }

    @Test func sdcppBatchIsOnePostPerImage() async throws {
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-txt2img-batch.json"])
        defer { server.stop() }
        server.script("POST", "/sdapi/v1/txt2img", .slow(.milliseconds(200)))
        let backend = try Self.backend(server)
        let events = await Self.run(backend, Self.request { $0.batchCount = 2 }, target: Self.sdcppModel)
        let images = Self.images(events)
        #expect(images.map(\.imageIndex) == [0, 1])
        #expect(Self.posts(server).map { $0["seed"] as? Int } == [42, 43])
        #expect(Self.posts(server).allSatisfy { $0["batch_size"] as? Int == 1 && $0["n_iter"] as? Int == 1 })
        // The recorded first reply is a two-image batch (seeds 42, 43): the first image is taken.
        #expect(images.first?.image == (try Self.repliedImage("sdcpp-txt2img-batch.json").0))
        // The recorded second reply was made with seed 7: the image says what the server did.
        #expect(images.map(\.seed) == [42, 7])
        #expect(images.map { $0.request.batchCount } == [1, 1])
        // Once known missing, progress is not asked again: one poll in all, one warning per job.
        #expect(server.requests.filter { $0.path == "/sdapi/v1/progress" }.count == 1)
        #expect(Self.warnings(events).filter { $0.contains("reports no progress") }.count == 1)
        // And the server's own noise is said once for the job, not once per image.
        #expect(Self.warnings(events).filter { $0.contains("--rng") }.count == 1)
    }

    @Test func sdcppImg2img() async throws {
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-img2img.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let (initImage, _) = try Self.repliedImage("sdcpp-txt2img.json")
        let events = await Self.run(backend, Self.request { ($0.initImage, $0.strength) = (initImage, 0.6) }, target: Self.sdcppModel)
        let image = try #require(Self.images(events).first)
        #expect(image.image == (try Self.repliedImage("sdcpp-img2img.json", path: "/sdapi/v1/img2img").0))
        #expect(image.request.strength == 0.6 && image.request.initImage == initImage)
        let sent = try #require(Self.posts(server, "/sdapi/v1/img2img").first)
        #expect(sent["denoising_strength"] as? Double == 0.6)
        let base64 = try #require((sent["init_images"] as? [String])?.first)
        let png = try PNG.decode([UInt8](try #require(Data(base64Encoded: base64))))
        #expect(png.image.pixels == initImage.rgb)
    }

    @Test func sdcppLoRAsAreListedFirstAndSentStructured() async throws {
        // The recording's first POST was refused because nothing had listed the LoRAs yet; this
        // backend always lists them before a job with LoRAs, so that refusal is left out here.
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-lora.json"], drop: { $0.method == "POST" && $0.status == 400 })
        defer { server.stop() }
        let backend = try Self.backend(server)
        let request = Self.request { $0.prompt = "a red fox in the snow <lora:tiny_style:0.8>" }
        let events = await Self.run(backend, request, target: Self.sdcppModel)
        let image = try #require(Self.images(events).first)
        #expect(image.image == (try Self.repliedImage("sdcpp-lora.json", reply: 1).0))
        let order = server.requests.map { "\($0.method) \($0.path)" }.filter { $0.contains("loras") || $0.contains("txt2img") }
        #expect(order.suffix(2) == ["GET /sdapi/v1/loras", "POST /sdapi/v1/txt2img"])
        let sent = try #require(Self.posts(server).first)
        #expect(sent["prompt"] as? String == "a red fox in the snow ")
        let lora = try #require((sent["lora"] as? [[String: Any]])?.first)
        #expect(lora["path"] as? String == "tiny_style.safetensors" && lora["multiplier"] as? Double == 0.8)
        #expect(image.request.prompt == request.prompt)
    }

    @Test func sdcppRefusalIsOneLine() async throws {
        // The recorded refusal of a LoRA path (a fresh server that had not listed its LoRAs).
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-lora.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let events = await Self.run(backend, Self.request { $0.prompt = "fox <lora:tiny_style:0.8>" }, target: Self.sdcppModel)
        let message = try #require(Self.failure(events))
        #expect(message.hasSuffix(": POST /sdapi/v1/txt2img: HTTP 400: invalid lora path: tiny_style.safetensors"), "\(message)")
        #expect(message.hasPrefix("A1111 API at http://127.0.0.1:"))
        #expect(Self.images(events).isEmpty)
    }

    @Test func sdcppRecordedErrors() async throws {
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-errors.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        // 1: an unknown sampler is not an error there (it runs its default and says NONE); this
        // backend sends only listed names, and warns when the reply says otherwise.
        let first = await Self.run(backend, Self.request(), target: Self.sdcppModel)
        #expect(Self.warnings(first).contains { $0.contains("ran sampler \"NONE\"") || $0.contains("ran sampler NONE") })
        #expect(Self.images(first).count == 1)
        // The rest, in the recorded order.
        for expected in ["HTTP 400: width and height must be positive", "HTTP 400: prompt required",
                         "HTTP 500: [json.exception.type_error.302] type must be number, but is string"] {
            let events = await Self.run(backend, Self.request(), target: Self.sdcppModel)
            let message = try #require(Self.failure(events))
            #expect(message.hasSuffix(expected), "\(message)")
        }
    }

    @Test func sdcppCancelCannotInterrupt() async throws {
        let server = try Self.server(["sdcpp-catalog.json", "sdcpp-interrupt.json"])
        defer { server.stop() }
        server.script("POST", "/sdapi/v1/txt2img", .slow(.seconds(5)))
        let backend = try Self.backend(server)
        let clock = ContinuousClock()
        let start = clock.now
        let events = await Self.run(backend, Self.request { $0.steps = 40 }, target: Self.sdcppModel) { event, control in
            if case .started = event { control.cancel() }
        }
        #expect(clock.now - start < .seconds(3))
        guard case .cancelled? = events.last else { Issue.record("\(events)"); return }
        #expect(server.requests.contains { $0.method == "POST" && $0.path == "/sdapi/v1/interrupt" })
        #expect(Self.warnings(events).contains {
            $0 == "stable-diffusion.cpp's sd-server cannot interrupt a job: it runs to its end on the server, and its image is dropped"
        })
        #expect(Self.images(events).isEmpty)
    }

    // MARK: AUTOMATIC1111

    @Test func a1111Txt2imgWithProgressAndPreviews() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-txt2img.json"])
        defer { server.stop() }
        // The POST answers after the polls have walked through the recorded job.
        server.script("POST", "/sdapi/v1/txt2img", .slow(.milliseconds(1500)))
        let backend = try Self.backend(server)
        let request = Self.request { ($0.steps, $0.sampler, $0.schedule, $0.noiseSource) = (30, .dpmpp2M, .karras, .gpu) }
        let events = await Self.run(backend, request, target: Self.a1111Model)
        guard case .finished? = events.last else { Issue.record("\(events)"); return }

        let steps = Self.steps(events)
        // sampling_step 1, 4, ... 28 of 30, 0-based: steps 2, 5, ... 29.
        #expect(steps.map(\.step) == [2, 5, 8, 11, 14, 17, 20, 23, 26, 29])
        #expect(steps.allSatisfy { $0.total == 30 && $0.imageIndex == 0 && $0.imageCount == 1 })
        // The preview appears at step 11 (sampling_step 10), stays the same until 23: decoded when it changes.
        let previews = steps.filter { $0.preview != nil }
        #expect(previews.map(\.step) == [11, 23])
        #expect(previews.first?.preview?.width == 16 && previews.first?.preview?.height == 16)
        #expect(previews.first?.preview != previews.last?.preview)
        // After the last step, the image is decoded; then the image.
        let kinds = events.map { event -> String in
            switch event {
            case .started: "started"
            case .step: "step"
            case .decoding: "decoding"
            case .image: "image"
            case .finished: "finished"
            case .warning: "warning"
            case .failed: "failed"
            case .cancelled: "cancelled"
            }
        }
        #expect(kinds.filter { $0 != "step" } == ["started", "decoding", "image", "finished"])

        let image = try #require(Self.images(events).first)
        let (pixels, info) = try Self.repliedImage("a1111-txt2img.json")
        #expect(image.image == pixels)
        let infotext = try #require((info["infotexts"] as? [String])?.first)
        #expect(image.serverRecord == ServerRecord(server: "A1111 API (AUTOMATIC1111 v1.10.1)", infotext: infotext))
        #expect(backend.capabilities.name == "A1111 API (AUTOMATIC1111 v1.10.1)")
        // A1111's text reads back as the request that ran.
        let back = try GenerationRequest(infotext: Infotext(parsing: infotext))
        for (name, same) in [("seed", back.seed == image.request.seed), ("steps", back.steps == image.request.steps),
                             ("sampler", back.sampler == image.request.sampler), ("schedule", back.schedule == image.request.schedule),
                             ("cfg", back.cfgScale == image.request.cfgScale), ("noise", back.noiseSource == image.request.noiseSource),
                             ("convention", back.samplingConvention == image.request.samplingConvention),
                             ("size", back.width == image.request.width && back.height == image.request.height)] {
            #expect(same, "\(name)")
        }
        #expect(image.request.sampler == .dpmpp2M && image.request.schedule == .karras && image.request.seed == 42)

        let sent = try #require(Self.posts(server).first)
        #expect(sent["sampler_name"] as? String == "DPM++ 2M" && sent["scheduler"] as? String == "Karras")
        let settings = try #require(sent["override_settings"] as? [String: Any])
        #expect(settings["sd_model_checkpoint"] as? String == "v1-5-pruned-emaonly.safetensors [6ce0161689]")
        #expect(settings["randn_source"] as? String == "NV")
    }

    @Test func a1111Interrupt() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-interrupt.json"])
        defer { server.stop() }
        server.script("POST", "/sdapi/v1/txt2img", .slow(.seconds(3)))
        let backend = try Self.backend(server)
        let request = Self.request { ($0.steps, $0.sampler, $0.schedule) = (30, .dpmpp2M, .karras) }
        let events = await Self.run(backend, request, target: Self.a1111Model) { event, control in
            if case .step(let step) = event, step.step >= 5 { control.cancel() }
        }
        guard case .cancelled? = events.last else { Issue.record("\(events)"); return }
        #expect(server.requests.contains { $0.method == "POST" && $0.path == "/sdapi/v1/interrupt" })
        #expect(Self.warnings(events).isEmpty)
        // The partial image A1111 sends after an interrupt is never given as a finished one.
        #expect(Self.images(events).isEmpty)
        #expect(!events.contains { if case .finished = $0 { true } else { false } })
    }

    @Test func cancelBeforeThePostSendsNoInterrupt() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-txt2img.json"])
        defer { server.stop() }
        // The catalog is slow to come: the job is cancelled while it waits for it.
        server.script("GET", "/sdapi/v1/sd-models", .slow(.seconds(3)))
        let backend = try Self.backend(server)
        let start = ContinuousClock.now
        let events = await Self.run(backend, Self.request(), target: Self.a1111Model, cancelAtOnce: true)
        #expect(ContinuousClock.now - start < .seconds(1))
        guard events.count == 1, case .cancelled? = events.first else { Issue.record("\(events)"); return }
        #expect(!server.requests.contains { $0.path == "/sdapi/v1/interrupt" })
        #expect(Self.posts(server).isEmpty)
    }

    @Test func a1111SamplerFallbackIsReported() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-sampler-fallback.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let events = await Self.run(backend, Self.request { $0.sampler = .euler }, target: Self.a1111Model)
        let image = try #require(Self.images(events).first)
        #expect(Self.warnings(events).contains { $0.contains("ran sampler \"DPM++ 2M\", not Euler") || $0.contains("ran sampler DPM++ 2M, not Euler") })
        #expect(image.request.sampler == .dpmpp2M && image.request.schedule == .karras)
    }

    @Test func a1111RecordedErrorsAreOneLine() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-errors.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        for expected in ["HTTP 422: steps: value is not a valid integer", "HTTP 422: height: value is not a valid integer"] {
            let message = try #require(Self.failure(await Self.run(backend, Self.request(), target: Self.a1111Model)))
            #expect(message.hasSuffix(": POST /sdapi/v1/txt2img: " + expected), "\(message)")
        }
        let json = try #require(Self.failure(await Self.run(backend, Self.request(), target: Self.a1111Model)))
        #expect(json.contains("HTTP 422") && json.contains("Expecting"), "\(json)")
        let upscaler = try #require(Self.failure(await Self.run(backend, Self.request(), target: Self.a1111Model)))
        #expect(upscaler.hasSuffix("HTTP 500: could not find upscaler named 4x-NoSuchUpscaler"), "\(upscaler)")
    }

    @Test func a1111Before19RefusesAnUnknownSampler() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-sampler-not-found-1.8.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let message = try #require(Self.failure(await Self.run(backend, Self.request(), target: Self.a1111Model)))
        #expect(message.hasSuffix("HTTP 404: Sampler not found"), "\(message)")
    }

    @Test func unknownCheckpointIsRefusedBeforeAnythingRuns() async throws {
        let server = try Self.server(["a1111-catalog.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let target = ModelTarget.remote(RemoteCheckpoint(name: "nope.safetensors", server: "A1111"))
        let message = try #require(Self.failure(await Self.run(backend, Self.request(), target: target)))
        #expect(message == "checkpoint \"nope.safetensors\" is not one A1111 API (AUTOMATIC1111) lists")
        #expect(Self.posts(server).isEmpty)
    }

    // MARK: Auth and failures

    @Test func credentialsRefused() async throws {
        let server = try Self.server(["a1111-auth.json"])
        defer { server.stop() }
        let backend = try Self.backend(server, credentials: .basic(user: "stipple", password: "wrong-pass"))
        do {
            _ = try await backend.catalog()
            Issue.record("expected a refusal")
        } catch {
            #expect(error.description == "A1111 API at \(try server.address) refused the credentials (401): set backend.user and password_env (or token_env)")
            #expect(!error.description.contains("wrong-pass"))
        }
        #expect(server.requests.first?.headers["authorization"] == "Basic " + Data("stipple:wrong-pass".utf8).base64EncodedString())
        // The job says the same.
        let events = await Self.run(backend, Self.request(), target: Self.a1111Model)
        #expect(Self.failure(events)?.contains("refused the credentials (401)") == true)
    }

    @Test func failuresEndTheJobInOneLine() async throws {
        let cases: [(ReplayServer.Behaviour, String)] = [
            (.drop, "connection lost"),
            (.partial(Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"images\": [\"iVBO".utf8)), "connection lost (the reply ended early)"),
            (.status(200, "{\"images\": [\"iVBO"), "unexpected reply"),
            (.status(200, "{\"images\": []}"), "holds no image"),
            (.status(200, "{\"images\": [\"@@@\"]}"), "not base64"),
            (.status(200, "{\"images\": [\"aGVsbG8=\"]}"), "is not a PNG image"),
            (.status(200, "{\"images\": [\"/9j/4AAQSkZJRg==\"]}"), "is JPEG, not PNG"),
            (.status(200, "{\"images\": [\"iVBORw0KGgoAAAA=\"]}"), "not a readable PNG"),
            (.status(200, "[1, 2]"), "unexpected reply"),
            // A PNG header claiming 100000x100000 pixels: refused before anything is inflated.
            (.status(200, "{\"images\": [\"iVBORw0KGgoAAAANSUhEUgABhqAAAYagCAIAAAA=\"]}"), "is 100000x100000, larger than the 8192x8192"),
            (.hang, "no reply within 1 s"),
        ]
        for (behaviour, expected) in cases {
            let server = try Self.server(["sdcpp-catalog.json"])
            defer { server.stop() }
            server.script("POST", "/sdapi/v1/txt2img", behaviour)
            let backend = try Self.backend(server, jobTimeout: .seconds(1))
            let start = ContinuousClock.now
            let events = await Self.run(backend, Self.request(), target: Self.sdcppModel)
            let message = try #require(Self.failure(events), "\(behaviour)")
            #expect(message.contains(expected), "\(behaviour): \(message)")
            #expect(message.contains("127.0.0.1"), "names the server: \(message)")
            #expect(ContinuousClock.now - start < .seconds(4))
        }
    }

    @Test func unreachableServer() async throws {
        let connection = RemoteConnection(address: try ServerAddress(parsing: "http://127.0.0.1:\(closedPort())"), serverName: "A1111 API")
        let backend = A1111Backend(connection: connection, pollInterval: .milliseconds(20), requestTimeout: .seconds(2))
        let message = try #require(Self.failure(await Self.run(backend, Self.request(), target: Self.sdcppModel)))
        #expect(message.contains("not reachable (connection refused)") && message.contains("GET /sdapi/v1/sd-models"), "\(message)")
    }

    @Test func garbageProgressIsIgnored() async throws {
        let server = try Self.server(["a1111-catalog.json", "a1111-txt2img.json"],
                                     drop: { $0.path == "/sdapi/v1/progress" })
        defer { server.stop() }
        server.script("GET", "/sdapi/v1/progress", .status(200, "{\"state\": {\"job_count\": \"x\"}, \"current_image\": \"@@notbase64\"}"))
        server.script("POST", "/sdapi/v1/txt2img", .slow(.milliseconds(300)))
        let backend = try Self.backend(server)
        let events = await Self.run(backend, Self.request { ($0.steps, $0.sampler, $0.schedule) = (30, .dpmpp2M, .karras) }, target: Self.a1111Model)
        #expect(Self.images(events).count == 1)
        #expect(Self.steps(events).isEmpty)
    }

    @Test func invalidRequestIsRefusedBeforeAnythingRuns() async throws {
        let server = try Self.server(["sdcpp-catalog.json"])
        defer { server.stop() }
        let backend = try Self.backend(server)
        let events = await Self.run(backend, Self.request { $0.steps = 0 }, target: Self.sdcppModel)
        #expect(Self.failure(events)?.contains("steps") == true)
        #expect(server.requests.isEmpty)
    }

    /// A live run against a real sd-server, when STIPPLE_LIVE_A1111_URL names one
    /// (`sd-server -m MODEL --listen-port 7860`): prints what came back.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STIPPLE_LIVE_A1111_URL"] != nil))
    func liveServer() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["STIPPLE_LIVE_A1111_URL"])
        let connection = RemoteConnection(address: try ServerAddress(parsing: url), serverName: "A1111 API")
        let backend = A1111Backend(connection: connection)
        let catalog = try await backend.catalog()
        let checkpoint = try #require(catalog.current)
        print("live: \(catalog.serverName); checkpoint \(checkpoint.name); \(catalog.samplers.count) samplers, \(catalog.loras.count) LoRAs")
        let request = Self.request { ($0.seed, $0.prompt) = (nil, "a red fox in the snow" + (catalog.loras.isEmpty ? "" : " <lora:\(catalog.loras[0].name):0.8>")) }
        let events = await Self.run(backend, request, target: .remote(checkpoint), limit: .seconds(120))
        for event in events {
            switch event {
            case .image(let image):
                print("live: image \(image.image.width)x\(image.image.height) seed \(image.seed) in \(String(format: "%.1f", image.seconds)) s, "
                      + "sampler \(image.request.sampler.rawValue), noise \(image.request.noiseSource.rawValue)")
                print("live: server text: \(image.serverRecord?.texts.first?.value.prefix(200) ?? "none")")
            default: print("live: \(event)".prefix(200))
            }
        }
        #expect(Self.images(events).count == 1)
        await connection.shutdown()
    }
}
