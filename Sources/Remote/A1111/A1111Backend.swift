import Diffusion
import Foundation
import Synchronization

/// Runs generations on a server that speaks AUTOMATIC1111's API: AUTOMATIC1111 itself, Forge,
/// SD.Next, and stable-diffusion.cpp's `sd-server`.
///
/// Each image is one `POST /sdapi/v1/txt2img` (or `img2img`) with its own seed, while another
/// task polls `/sdapi/v1/progress` for the step and the server's preview (`current_image`).
/// A1111 answers a generation only when it is done, so the POST waits long (`jobTimeout`,
/// 30 minutes: the server may be busy with other people's jobs); cancelling ends the wait at
/// once and asks the server to stop (`/sdapi/v1/interrupt`). sd-server has neither progress nor
/// interrupt: its jobs show no steps, and a cancelled one runs to its end there (its image is
/// dropped); both are said in a warning.
///
/// Jobs run one after another, as the embedded engine's queue runs them (the server would queue
/// them anyway, and the progress it reports is of one job at a time). The observer receives a
/// job's events one at a time, on no particular thread.
public final class A1111Backend: GenerationBackend, Sendable {
    public let connection: RemoteConnection
    /// How often `/sdapi/v1/progress` is asked while an image is made.
    public let pollInterval: Duration
    /// How long one image's POST may take (queue time included).
    public let jobTimeout: Duration
    /// How long a catalog GET, a progress poll or an interrupt may take.
    public let requestTimeout: Duration

    private struct State {
        var catalog: A1111Catalog?
        /// `/sdapi/v1/progress` answered 404 once: this server has none (sd-server).
        var progressMissing = false
        /// The last job submitted: the next one waits for it.
        var lastJob: Task<Void, Never>?
    }

    private let state = Mutex(State())

    public init(connection: RemoteConnection, pollInterval: Duration = .milliseconds(500), jobTimeout: Duration = .seconds(1800),
                requestTimeout: Duration = .seconds(15)) {
        self.connection = connection
        self.pollInterval = pollInterval
        self.jobTimeout = jobTimeout
        self.requestTimeout = requestTimeout
    }

    /// The server's name once the catalog was read ("A1111 API (AUTOMATIC1111 v1.10.1)",
    /// "stable-diffusion.cpp sd-server"), else "A1111 API". Servers run jobs through: no pause.
    public var capabilities: BackendCapabilities {
        BackendCapabilities(name: state.withLock { $0.catalog?.serverName } ?? "A1111 API", canPause: false)
    }

    // MARK: Catalog

    /// What the server offers: which server it is (`GET /sdcpp/v1/capabilities` answers only on
    /// sd-server, `/sdapi/v1/sd-modules` only on Forge), its checkpoints and the loaded one,
    /// samplers, schedulers (nil before A1111 1.9) and LoRAs. Read once and kept; `refresh`
    /// reads it again. Errors are one line naming the server and the request.
    public func catalog(refresh: Bool = false) async throws(A1111Error) -> A1111Catalog {
        if !refresh, let known = state.withLock({ $0.catalog }) { return known }
        let checkpoints = A1111Catalog.checkpoints(from: try await getList("/sdapi/v1/sd-models"))
        let flavor: A1111Flavor
        var version: String?
        var maxSize: (width: Int?, height: Int?) = (nil, nil)
        let capabilities = try await get("/sdcpp/v1/capabilities")
        if (200..<300).contains(capabilities.status) {
            flavor = .stableDiffusionCpp
            if let object = try? capabilities.jsonObject("/sdcpp/v1/capabilities") { maxSize = A1111Catalog.maxSize(fromCapabilities: object) }
        } else if try await exists("/sdapi/v1/sd-modules") {
            flavor = .forge
        } else if let sdNext = try await versionRoute() {
            (flavor, version) = (.sdNext, sdNext)
        } else {
            flavor = .automatic1111
        }
        var catalog = A1111Catalog(flavor: flavor, version: version, checkpoints: checkpoints)
        (catalog.maxWidth, catalog.maxHeight) = maxSize
        catalog.samplers = A1111Catalog.samplers(from: try await getList("/sdapi/v1/samplers"))
        catalog.schedulers = try await getList("/sdapi/v1/schedulers", missingIsNil: true).map(A1111Catalog.schedulers(from:))
        // The LoRA list comes from A1111's built-in Lora extension (which can be turned off).
        catalog.loras = A1111Catalog.loras(from: try await getList("/sdapi/v1/loras", missingIsNil: true) ?? [])
        let options = try? await get("/sdapi/v1/options").jsonObject("/sdapi/v1/options")
        catalog.currentCheckpoint = A1111JSON.string(options?["sd_model_checkpoint"])
        if catalog.version == nil { catalog.version = state.withLock { $0.catalog?.version } }
        let read = catalog
        state.withLock { $0.catalog = read }
        return read
    }

    /// sd-server resolves a LoRA `path` only against the list its last `/sdapi/v1/loras` made
    /// (a fresh server refuses every path until something lists them): read it again before a
    /// job that uses LoRAs.
    func refreshLoRAs() async throws(A1111Error) -> A1111Catalog {
        var catalog = try await self.catalog()
        catalog.loras = A1111Catalog.loras(from: try await getList("/sdapi/v1/loras", missingIsNil: true) ?? [])
        let read = catalog
        state.withLock { $0.catalog = read }
        return read
    }

    /// A GET, retried once after half a second when the failure may pass (a dropped connection,
    /// a server restarting): GETs change nothing on the server.
    private func get(_ path: String) async throws(A1111Error) -> HTTPReply {
        var attempt = 0
        while true {
            do {
                let reply = try await connection.get(path, timeout: requestTimeout)
                if reply.status == 401 { throw credentialsError() }
                return reply
            } catch let error as RemoteError {
                attempt += 1
                guard error.isTransient, attempt < 2, !Task.isCancelled else { throw A1111Error(error.description) }
                try? await Task.sleep(for: .milliseconds(500))
            } catch let error as A1111Error {
                throw error
            } catch {
                throw A1111Error("\(connection.label): GET \(path): \(error)")
            }
        }
    }

    /// A list route's JSON array; a 404 is nil when `missingIsNil` (an optional route), else an error.
    private func getList(_ path: String, missingIsNil: Bool) async throws(A1111Error) -> [Any]? {
        let reply = try await get(path)
        if reply.status == 404 && missingIsNil { return nil }
        guard (200..<300).contains(reply.status) else { throw statusError(reply, method: "GET", path: path) }
        do {
            return try reply.jsonArray(path)
        } catch {
            throw A1111Error(error.description)
        }
    }

    /// A list route that must be there.
    private func getList(_ path: String) async throws(A1111Error) -> [Any] {
        try await getList(path, missingIsNil: false) ?? []
    }

    /// SD.Next's `GET /sdapi/v1/version` (`{"app": "sd.next", "updated": "2025-01-29", "hash": ...}`):
    /// its version text, "" when the object names none; nil when there is no such route (A1111,
    /// Forge: 404).
    private func versionRoute() async throws(A1111Error) -> String? {
        let path = "/sdapi/v1/version"
        let reply = try await get(path)
        guard (200..<300).contains(reply.status), let object = try? reply.jsonObject(path) else { return nil }
        return ["version", "updated", "hash"].lazy.compactMap { A1111JSON.string(object[$0]) }.first { !$0.isEmpty } ?? ""
    }

    /// Whether a GET of `path` answers 2xx (a probe: 404 and the like are "no").
    private func exists(_ path: String) async throws(A1111Error) -> Bool {
        (200..<300).contains(try await get(path).status)
    }

    // MARK: Errors

    /// 401: the server wants (other) credentials.
    func credentialsError() -> A1111Error {
        A1111Error("\(connection.label) refused the credentials (401): set backend.user and password_env (or token_env)")
    }

    /// A non-2xx reply as one line: A1111's `detail` (text, or FastAPI's list of `{loc, msg}`),
    /// its middleware's `errors`, sd-server's `message` or `error`; a hint for a missing route.
    func statusError(_ reply: HTTPReply, method: String, path: String) -> A1111Error {
        if reply.status == 401 { return credentialsError() }
        var message = Self.serverMessage(reply.body)
        if reply.status == 404, message.isEmpty || message == "Not Found" {
            message = "not found (is the server's API on? A1111 needs --api)"
        }
        let text = message.isEmpty ? "HTTP \(reply.status)" : "HTTP \(reply.status): \(message)"
        return A1111Error("\(connection.label): \(method) \(path): \(text)")
    }

    /// The message in an error body, one short printable line; empty when there is none.
    static func serverMessage(_ body: [UInt8]) -> String {
        guard !body.isEmpty, body.count <= 1 << 20,
              let object = (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) as? [String: Any] else {
            let text = String(decoding: body.prefix(4096), as: UTF8.self)
            return A1111JSON.shown(text.split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        var parts: [String] = []
        if let detail = object["detail"] as? String, !detail.isEmpty {
            parts.append(detail)
        } else if let details = object["detail"] as? [Any] {
            for item in details.prefix(3) {
                guard let entry = item as? [String: Any], let msg = entry["msg"] as? String else { continue }
                // FastAPI's location: ["body", "steps"] names the field.
                let location = (entry["loc"] as? [Any] ?? []).compactMap { ($0 as? String) ?? (A1111JSON.integer($0)).map { "\($0)" } }
                    .filter { $0 != "body" }.joined(separator: ".")
                parts.append(location.isEmpty ? msg : "\(location): \(msg)")
            }
        }
        for key in ["errors", "message", "error"] where parts.isEmpty {
            if let text = object[key] as? String, !text.isEmpty { parts.append(text) }
        }
        return A1111JSON.shown(parts.joined(separator: "; ").split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    // MARK: Jobs

    @discardableResult
    public func submit(_ request: GenerationRequest, target: ModelTarget,
                       observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl {
        let control = GenerationControl()
        let emitter = JobEmitter(observer)
        state.withLock { state in
            let previous = state.lastJob
            state.lastJob = Task { [self] in
                await self.run(request, target: target, control: control, emitter: emitter, after: previous)
            }
        }
        return control
    }

    /// One job: its work raced against the control's cancel.
    private func run(_ request: GenerationRequest, target: ModelTarget, control: GenerationControl, emitter: JobEmitter,
                     after previous: Task<Void, Never>?) async {
        let job = JobState()
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await previous?.value
                await self.work(request, target: target, job: job, emitter: emitter)
                return false
            }
            group.addTask {
                // GenerationControl has no callback: look every 50 ms (a cancel ends the wait within that).
                while !control.isCancelled {
                    try? await Task.sleep(for: .milliseconds(50))
                    if Task.isCancelled { return false }
                }
                return true
            }
            let cancelled = await group.next() ?? false
            group.cancelAll()
            guard cancelled, emitter.seal() else { return }
            // The work's events are sealed off: what follows is the job's last word.
            if job.isPosting {
                if let warning = await interrupt() { emitter.observer(.warning(warning)) }
            }
            emitter.observer(.cancelled)
        }
    }

    /// Asks the server to stop the running job (`POST /sdapi/v1/interrupt`: A1111 stops at its
    /// next step and answers the POST with the partial image, which is dropped). A warning when
    /// it could not: sd-server has no such route.
    private func interrupt() async -> String? {
        let path = "/sdapi/v1/interrupt"
        do {
            let reply = try await connection.postJSON(path, json: [String: Any](), timeout: .seconds(5))
            if reply.status == 404 {
                let who = state.withLock { $0.catalog?.flavor } == .stableDiffusionCpp ? "stable-diffusion.cpp's sd-server" : connection.label
                return "\(who) cannot interrupt a job: it runs to its end on the server, and its image is dropped"
            }
            if !(200..<300).contains(reply.status) { return "cancelled here, but " + statusError(reply, method: "POST", path: path).description }
            return nil
        } catch {
            return "cancelled here, but the server was not told: \(error.description)"
        }
    }

    /// Checks, resolves and runs every image of `request`, one POST each.
    private func work(_ request: GenerationRequest, target: ModelTarget, job: JobState, emitter: JobEmitter) async {
        do throws(A1111Error) {
            let images = try await makeImages(request, target: target, job: job, emitter: emitter)
            emitter.end(.finished(images))
        } catch {
            emitter.end(.failed(error.description))
        }
    }

    private func makeImages(_ request: GenerationRequest, target: ModelTarget, job: JobState,
                            emitter: JobEmitter) async throws(A1111Error) -> [GeneratedImage] {
        guard case .remote(let checkpoint) = target else {
            throw A1111Error("the A1111 API backend runs a server's checkpoint, not a model loaded here")
        }
        do {
            try request.validate(for: target)
        } catch {
            throw A1111Error(error.description)
        }
        var catalog = try await catalog()
        let usesLoRAs = !ExtraNetworkTags(parsing: request.prompt).loras.isEmpty
        if usesLoRAs { catalog = try await refreshLoRAs() }

        var warnings: [String] = []
        if catalog.flavor == .stableDiffusionCpp {
            if let loaded = catalog.current, loaded.name != checkpoint.name, catalog.checkpoint(named: checkpoint.name) == nil {
                warnings.append("\(catalog.serverName) runs the model it was started with (\(A1111JSON.quoted(loaded.name))), "
                                + "not \(A1111JSON.quoted(checkpoint.name))")
            }
        } else if !catalog.checkpoints.isEmpty, catalog.checkpoint(named: checkpoint.name) == nil {
            // A1111 silently keeps its current model for a name it does not know.
            throw A1111Error("checkpoint \(A1111JSON.quoted(checkpoint.name)) is not one \(catalog.serverName) lists")
        }

        // One seed for the run, drawn here when the request has none, so every image knows its own.
        var resolved = request
        let firstSeed = request.seed ?? UInt64(UInt32.random(in: 0...UInt32.max))
        resolved.seed = firstSeed
        if resolved.variationStrength != 0, resolved.variationSeed == nil {
            resolved.variationSeed = UInt64(UInt32.random(in: 0...UInt32.max))
        }
        // Every image's payload first: a refusal comes before anything runs.
        var payloads: [A1111Payload] = []
        for index in 0..<max(1, request.batchCount) {
            payloads.append(try A1111Payload(request: resolved, imageIndex: index, firstSeed: firstSeed, checkpoint: checkpoint, catalog: catalog))
        }
        for warning in warnings + (payloads.first?.warnings ?? []) { job.warnOnce(warning, emitter: emitter) }

        var images: [GeneratedImage] = []
        for (index, payload) in payloads.enumerated() {
            images.append(try await makeImage(payload, index: index, count: payloads.count, checkpoint: checkpoint,
                                              catalog: catalog, asked: request, job: job, emitter: emitter))
        }
        return images
    }

    /// One image: the POST, with the progress poller beside it.
    private func makeImage(_ payload: A1111Payload, index: Int, count: Int, checkpoint: RemoteCheckpoint, catalog: A1111Catalog,
                           asked: GenerationRequest, job: JobState, emitter: JobEmitter) async throws(A1111Error) -> GeneratedImage {
        let request = payload.resolved
        let steps = payload.initImage == nil ? request.steps : max(1, Int(Double(request.steps) * request.strength))
        emitter.emit(.started(ImageStart(imageIndex: index, imageCount: count, seed: payload.seed, steps: steps)))
        let body = try payload.jsonObject()
        let clock = ContinuousClock()
        let start = clock.now

        let missing = state.withLock { $0.progressMissing }
        if missing { job.warnNoProgress(catalog: catalog, emitter: emitter) }
        let poller: Task<Void, Never>? = missing ? nil : Task { [self] in
            await poll(imageIndex: index, imageCount: count, start: start, catalog: catalog, job: job, emitter: emitter)
        }
        job.setPosting(true)
        let reply: HTTPReply
        do {
            reply = try await connection.postJSON(payload.path, json: body, timeout: jobTimeout)
        } catch {
            job.setPosting(false)
            poller?.cancel()
            await poller?.value
            throw A1111Error(error.description)
        }
        job.setPosting(false)
        poller?.cancel()
        await poller?.value

        guard (200..<300).contains(reply.status) else { throw statusError(reply, method: "POST", path: payload.path) }
        let object: [String: Any]
        do {
            object = try reply.jsonObject(payload.path)
        } catch {
            throw A1111Error(error.description)
        }
        let what = "\(connection.label): POST \(payload.path)"
        let parsed: A1111GenerationReply
        do {
            parsed = try A1111GenerationReply(object)
        } catch {
            throw A1111Error("\(what): \(error.description)")
        }
        let imageIndex = parsed.firstImageIndex
        let decoded = try A1111Image.decode(parsed.images[imageIndex], what: "\(what): the image")
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18

        if let version = parsed.info?.version, !version.isEmpty, catalog.flavor != .stableDiffusionCpp {
            state.withLock { $0.catalog?.version = version }
        }
        let server = state.withLock { $0.catalog?.serverName } ?? catalog.serverName
        let infotext = parsed.info?.infotext(forImage: imageIndex) ?? decoded.texts.first { $0.key == "parameters" }?.value
        var result = A1111Resolution(payload: payload, asked: asked, info: parsed.info, infotext: infotext, server: server)
        result.request.width = decoded.pixels.width
        result.request.height = decoded.pixels.height
        for warning in result.warnings { job.warnOnce(warning, emitter: emitter) }

        let record: ServerRecord
        if catalog.flavor == .stableDiffusionCpp {
            // sd-server's text (`%f` numbers, `Sampler: euler discrete`, `RNG: cuda`, a trailing
            // `SDCPP: {json}`) does not read back as the settings that ran: stipple writes its
            // own parameters, and keeps the server's beside them.
            record = ServerRecord(server: server, infotext: nil, texts: infotext.map { [PNGTextPair(key: "sdcpp_parameters", value: $0)] } ?? [])
        } else {
            record = ServerRecord(server: server, infotext: infotext)
        }
        let seed = result.request.seed ?? payload.seed
        let image = GeneratedImage(image: decoded.pixels, seed: seed, imageIndex: index, request: result.request, latents: nil,
                                   seconds: seconds, serverRecord: record)
        emitter.emit(.image(image))
        return image
    }

    /// Polls `/sdapi/v1/progress` until cancelled: a `.step` for each new step (1-based; the
    /// preview decoded only when the server's image changed), `.decoding` once the steps are
    /// done. A 404 means the server has none (sd-server): polling stops, for good, with a warning.
    private func poll(imageIndex: Int, imageCount: Int, start: ContinuousClock.Instant, catalog: A1111Catalog,
                      job: JobState, emitter: JobEmitter) async {
        let path = "/sdapi/v1/progress"
        var last = (0, 0)
        var lastImage: String?
        var decodingSent = false
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            guard !Task.isCancelled else { return }
            guard let reply = try? await connection.get(path, timeout: requestTimeout) else { continue }
            if reply.status == 404 {
                state.withLock { $0.progressMissing = true }
                job.warnNoProgress(catalog: catalog, emitter: emitter)
                return
            }
            guard (200..<300).contains(reply.status) else {
                // 401 and the like: the POST says what is wrong.
                if reply.status < 500 { return }
                continue
            }
            guard let object = try? reply.jsonObject(path), let progress = A1111Progress(object) else { continue }
            if progress.isDecoding, !decodingSent, last.0 > 0 {
                decodingSent = true
                emitter.emit(.decoding(imageIndex: imageIndex))
                continue
            }
            guard progress.isSampling else { continue }
            var preview: PixelImage?
            if let current = progress.currentImage, current != lastImage {
                lastImage = current
                if let bytes = A1111JSON.base64(current, limit: A1111GenerationReply.maxImageBase64) {
                    preview = try? A1111Image.decode(bytes, what: "the preview").pixels
                }
            }
            let now = (progress.step, progress.samplingSteps)
            guard now != last || preview != nil else { continue }
            last = now
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            emitter.emit(.step(StepProgress(imageIndex: imageIndex, imageCount: imageCount, step: now.0, total: now.1, timestep: 0,
                                            elapsed: seconds, stepsPerSecond: seconds > 0 ? Double(now.0) / seconds : 0,
                                            preview: preview)))
        }
    }
}

/// A job's events, one at a time, and none after its end: once `seal()` or `end(_:)` ran, the
/// work's late events (a progress poll, the image of an interrupted job) are dropped.
final class JobEmitter: Sendable {
    let observer: @Sendable (GenerationEvent) -> Void
    private let ended = Mutex(false)

    init(_ observer: @escaping @Sendable (GenerationEvent) -> Void) {
        self.observer = observer
    }

    func emit(_ event: GenerationEvent) {
        ended.withLock { ended in
            if !ended { observer(event) }
        }
    }

    /// The last event, unless the job already ended.
    func end(_ event: GenerationEvent) {
        ended.withLock { ended in
            guard !ended else { return }
            ended = true
            observer(event)
        }
    }

    /// Ends the job's event stream without an event (the caller sends the last ones); false when
    /// it had already ended.
    func seal() -> Bool {
        ended.withLock { ended in
            defer { ended = true }
            return !ended
        }
    }
}

/// What the cancel path needs to know of a running job.
final class JobState: Sendable {
    private struct Flags {
        var posting = false
        /// The warnings given: each once per job (not once per image).
        var warned: Set<String> = []
    }

    private let flags = Mutex(Flags())

    var isPosting: Bool { flags.withLock { $0.posting } }

    func setPosting(_ posting: Bool) {
        flags.withLock { $0.posting = posting }
    }

    /// `.warning(text)`, unless this job already said it.
    func warnOnce(_ text: String, emitter: JobEmitter) {
        guard flags.withLock({ $0.warned.insert(text).inserted }) else { return }
        emitter.emit(.warning(text))
    }

    /// The server has no progress: said once per job.
    func warnNoProgress(catalog: A1111Catalog, emitter: JobEmitter) {
        warnOnce(catalog.flavor == .stableDiffusionCpp
            ? "stable-diffusion.cpp's sd-server reports no progress"
            : "\(catalog.serverName) reports no progress (/sdapi/v1/progress: 404)", emitter: emitter)
    }
}

extension A1111Backend: RemoteBackend {
    /// A small list the server always has (sd-server too), so a server that went away shows;
    /// the name comes from the catalog, read once.
    public func identify() async throws -> String {
        try await connection.get("/sdapi/v1/sd-models", timeout: .seconds(5)).requireOK("/sdapi/v1/sd-models")
        return try await catalog().serverName
    }

    public func checkpoints() async throws -> (list: [RemoteCheckpoint], current: RemoteCheckpoint?) {
        let catalog = try await catalog(refresh: true)
        return (catalog.remoteCheckpoints, catalog.current)
    }
}
