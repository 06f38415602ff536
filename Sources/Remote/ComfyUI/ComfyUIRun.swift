import Diffusion
import Foundation
import Imaging
import Synchronization

/// One submitted request on a ComfyUI server, start to end (ComfyUI 0.8.0's protocol: see the
/// fixtures' README and the issue 18 notes):
///
/// 1. graphs built, one per image (errors before anything is sent);
/// 2. the init image uploaded (`/upload/image`) for img2img;
/// 3. the WebSocket opened with a fresh client id, and its first `status` awaited (frames of a
///    prompt go only to the socket of the client id it was queued with);
/// 4. each prompt POSTed to `/prompt` with that client id and our own prompt id;
/// 5. frames followed (`ComfyUIJobSet`); when a prompt ends, `/history/{id}` names its files and
///    `/view` fetches them.
///
/// Failure handling: a dropped WebSocket is reopened once with a new client id while `/history`
/// and `/queue` are polled every `poll` (the prompt goes on on the server, and a finished image
/// is never lost); the server answering nothing for `serverGone` ends the job; a `/prompt` whose
/// reply was lost is looked for in `/queue` and `/history` by our prompt id, never sent twice.
/// Cancelling interrupts the running prompt and deletes the queued ones. Every wait is bounded.
struct ComfyUIRun {
    let backend: ComfyUIBackend
    let request: GenerationRequest
    let checkpoint: RemoteCheckpoint
    let control: GenerationControl
    let observer: @Sendable (GenerationEvent) -> Void

    private var connection: RemoteConnection { backend.connection }
    private var timing: ComfyUIBackend.Timing { backend.timing }
    private let origin = ContinuousClock.now
    private var socket: Task<Void, Never>?
    private var inbox = ComfyUIInbox()
    private var jobs = ComfyUIJobSet([])
    private var workflows: [ComfyUIWorkflow] = []
    /// Prompts whose end marker (`executing` with node null) came: /history has them.
    private var ended: Set<String> = []
    private var startedAt: [Int: Double] = [:]
    /// Prompts' /history entries, once read.
    private var history: [String: ComfyUIReplies.HistoryEntry] = [:]

    init(backend: ComfyUIBackend, request: GenerationRequest, checkpoint: RemoteCheckpoint, control: GenerationControl,
         observer: @escaping @Sendable (GenerationEvent) -> Void) {
        (self.backend, self.request, self.checkpoint, self.control, self.observer) = (backend, request, checkpoint, control, observer)
    }

    /// Why the run stops early: a line for `.failed`, or cancellation.
    enum Stop: Error {
        case failed(String)
        case cancelled
    }

    mutating func run() async {
        do throws(Stop) {
            try await prepare()
            try await follow()
        } catch {
            switch error {
            case .cancelled:
                await cancelOnServer()
                observer(.cancelled)
            case .failed(let line):
                observer(.failed(line))
            }
        }
        socket?.cancel()
    }

    private func now() -> Double { Self.seconds(origin.duration(to: .now)) }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, atto) = duration.components
        return Double(whole) + Double(atto) * 1e-18
    }

    private func failure(_ error: RemoteError) -> Stop { .failed(error.description) }

    private func checkCancelled() throws(Stop) {
        if control.isCancelled { throw .cancelled }
    }

    // MARK: Before the first prompt

    private mutating func prepare() async throws(Stop) {
        try checkCancelled()
        do {
            try request.validate(for: ModelTarget.remote(checkpoint))
        } catch {
            throw .failed(error.description)
        }
        let size = request.size(for: ModelTarget.remote(checkpoint))
        let seed = request.seed ?? UInt64.random(in: 0...UInt64.max)
        let saved: [String: Any]?
        do {
            saved = try backend.workflow.map(ComfyUIBackend.parseWorkflow)
        } catch {
            throw .failed(error.description)
        }
        var loras: [String] = []
        if saved == nil, !ExtraNetworkTags(parsing: request.prompt).loras.isEmpty {
            loras = try await serverLoRAs(refresh: false)
        }
        // Built once before the upload (with the name it will likely get), so that a refused
        // setting uploads nothing.
        let uploads = request.initImage != nil && saved == nil
        var built = try await build(saved: saved, size: size, seed: seed, loras: &loras, initImageName: uploads ? "stipple_init.png" : nil)
        if uploads, let image = request.initImage {
            let name = try await upload(image)
            built = try await build(saved: saved, size: size, seed: seed, loras: &loras, initImageName: name)
        }
        if saved != nil, request.initImage != nil {
            observer(.warning("a saved workflow runs as it is: the init image is not sent (give the workflow a LoadImage instead)"))
        }
        workflows = built
        var warned = Set<String>()
        for warning in built.flatMap(\.warnings) where warned.insert(warning).inserted {
            observer(.warning(warning))
        }
        try checkCancelled()
        let clientID = try await openSocket()
        var set: [ComfyUIJob] = []
        for (i, workflow) in built.enumerated() {
            try checkCancelled()
            let id: String
            do throws(Stop) {
                id = try await post(workflow, clientID: clientID)
            } catch {
                // Those already queued would run for nobody.
                await cancelOnServer()
                throw error
            }
            set.append(ComfyUIJob(promptID: id, imageIndex: i, imageCount: built.count, seed: workflow.request.seed ?? seed &+ UInt64(i),
                                  steps: request.steps, decodeNodes: workflow.decodeNodes, expectsPreviews: request.preview != .off))
            jobs = ComfyUIJobSet(set)
        }
    }

    /// The graph of each image (seed + i).
    private func build(saved: [String: Any]?, size: (width: Int, height: Int), seed: UInt64, loras: inout [String],
                       initImageName: String?) async throws(Stop) -> [ComfyUIWorkflow] {
        var built: [ComfyUIWorkflow] = []
        for i in 0..<request.batchCount {
            let imageSeed = seed &+ UInt64(i)
            func build(_ loras: [String]) -> Result<ComfyUIWorkflow, ComfyUIWorkflowError> {
                Result { () throws(ComfyUIWorkflowError) in
                    if let saved { return try ComfyUIWorkflow(saved: saved, request: request, seed: imageSeed, size: size) }
                    return try ComfyUIWorkflow(request: request, seed: imageSeed, checkpoint: checkpoint.name, size: size,
                                               loras: loras, initImageName: initImageName)
                }
            }
            var result = build(loras)
            if case .failure(let error) = result, saved == nil, i == 0, error.description.contains("is not a LoRA on the server"),
               let fresh = try? await backend.loras(refresh: true), fresh != loras {
                // A LoRA added on the server since the catalog was read: its list once more.
                loras = fresh
                result = build(loras)
            }
            switch result {
            case .success(let workflow): built.append(workflow)
            case .failure(let error): throw .failed(error.description)
            }
        }
        return built
    }

    private func serverLoRAs(refresh: Bool) async throws(Stop) -> [String] {
        do {
            return try await backend.loras(refresh: refresh)
        } catch {
            throw failure(error)
        }
    }

    /// Uploads the init image as a PNG; the name LoadImage takes (`subfolder/name` when the
    /// server put it in one).
    private func upload(_ image: PixelImage) async throws(Stop) -> String {
        let png: [UInt8]
        do {
            png = try PNG.encode(RGBImage(width: image.width, height: image.height, pixels: image.rgb))
        } catch {
            throw .failed("the init image could not be encoded as PNG: \(error.description)")
        }
        let boundary = "stipple-\(UUID().uuidString)"
        var body: [UInt8] = []
        func field(_ name: String, _ value: String) {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"stipple_init.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
        body += png + Array("\r\n".utf8)
        field("type", "input")
        field("overwrite", "false")
        body += Array("--\(boundary)--\r\n".utf8)
        let path = "/upload/image"
        do throws(RemoteError) {
            let reply = try await connection.post(path, body: body, contentType: "multipart/form-data; boundary=\(boundary)",
                                                  timeout: timing.request).requireOK(path).jsonObject(path)
            guard let name = reply["name"] as? String, !name.isEmpty, name.utf8.count <= ComfyUIReplies.maximumNameBytes else {
                throw RemoteError(server: connection.label, method: "POST", path: path, kind: .malformed("the uploaded file's name"))
            }
            let subfolder = (reply["subfolder"] as? String) ?? ""
            return subfolder.isEmpty ? name : "\(subfolder)/\(name)"
        } catch {
            throw failure(error)
        }
    }

    /// Opens the WebSocket under a new client id and waits for its first `status` (left in the
    /// inbox: the job set ignores it).
    private mutating func openSocket() async throws(Stop) -> String {
        let clientID = UUID().uuidString.lowercased()
        startSocket(clientID: clientID)
        let deadline = now() + Self.seconds(timing.connect)
        while now() < deadline {
            try checkCancelled()
            let (sawStatus, ended) = inbox.peek { message in
                guard case .text(let text) = message, case .status? = try? ComfyUIMessage.parse(text: text) else { return false }
                return true
            }
            if sawStatus { return clientID }
            if ended {
                if let error = socketError.withLock({ $0 }) {
                    // Named without the client id: it means nothing to a person.
                    throw failure(RemoteError(server: error.server, request: "WebSocket /ws", kind: error.kind))
                }
                throw .failed("\(connection.label): WebSocket /ws: closed before its first status message")
            }
            await sleep()
        }
        throw .failed("\(connection.label): WebSocket /ws: no status message within \(Self.seconds(timing.connect)) s")
    }

    private let socketError = SocketError()

    /// The last WebSocket's error, if it ended with one.
    final class SocketError: Sendable {
        private let value = Mutex<RemoteError?>(nil)
        func withLock<T>(_ body: (inout RemoteError?) -> T) -> T { value.withLock { body(&$0) } }
    }

    /// Reads the WebSocket `/ws?clientId=` into a new inbox until it ends or the run stops it.
    private mutating func startSocket(clientID: String) {
        socket?.cancel()
        let inbox = ComfyUIInbox()
        self.inbox = inbox
        let connection = connection, timeout = timing.connect, errorBox = socketError
        socket = Task {
            do throws(RemoteError) {
                try await connection.webSocket("/ws?clientId=\(clientID)", connectTimeout: timeout) { message in
                    inbox.push(message)
                    return !Task.isCancelled
                }
            } catch {
                errorBox.withLock { $0 = error }
            }
            inbox.end()
        }
    }

    private func sleep() async {
        try? await Task.sleep(for: timing.tick)
    }

    // MARK: Queueing

    /// POSTs one prompt; its id as the server gives it.
    private func post(_ workflow: ComfyUIWorkflow, clientID: String) async throws(Stop) -> String {
        let ourID = "stipple-\(UUID().uuidString.lowercased())"
        let previewMethod: String = switch request.preview {
        case .off: "none"
        case .approx: "latent2rgb"
        // ComfyUI falls back to latent2rgb where it has no TAESD decoder.
        case .taesd, .full: "taesd"
        }
        let body: [String: Any] = [
            "prompt": workflow.graph, "client_id": clientID, "prompt_id": ourID,
            "extra_data": ["preview_method": previewMethod],
        ]
        let path = "/prompt"
        let reply: HTTPReply
        do {
            reply = try await connection.postJSON(path, json: body, timeout: timing.request)
        } catch {
            switch error.kind {
            case .unreachable, .cancelled:
                throw failure(error)  // nothing was sent
            default:
                // The prompt may have been queued before the reply was lost: look for it.
                switch await isKnown(ourID) {
                case true?: return ourID
                case false?: throw .failed("\(error.description) (the prompt is not on the server's queue; not sent again)")
                case nil: throw .failed("\(error.description) (the server could not say whether it was queued; not sent again)")
                }
            }
        }
        if reply.status == 400 {
            let object = (try? reply.jsonObject(path)) ?? [:]
            throw .failed("\(connection.label) refused the prompt: \(ComfyUIReplies.promptRefusal(object))")
        }
        do {
            let object = try reply.requireOK(path).jsonObject(path)
            return ComfyUIMessage.identifier(object["prompt_id"]) ?? ourID
        } catch {
            if case .status = error.kind { throw failure(error) }
            if await isKnown(ourID) == true { return ourID }
            throw failure(error)
        }
    }

    /// Whether the server holds prompt `id` (queued, running or in its history); nil when it
    /// cannot tell.
    private func isKnown(_ id: String) async -> Bool? {
        do throws(RemoteError) {
            let queue = try await connection.get("/queue", timeout: timing.request).requireOK("/queue").jsonObject("/queue")
            if ComfyUIReplies.queueHolds(queue, id: id) { return true }
            let path = "/history/\(id)"
            let history = try await connection.get(path, timeout: timing.request).requireOK(path).jsonObject(path)
            return ComfyUIReplies.historyEntry(history, id: id) != nil
        } catch {
            return nil
        }
    }

    // MARK: Following

    /// How long after `execution_success` the end marker may be waited for before /history is
    /// asked anyway.
    static let endMarkerWait = 2.0

    private mutating func follow() async throws(Stop) {
        var images: [GeneratedImage] = []
        var current = 0
        var reconnected = false
        var polling = false
        var lastPoll = -Double.infinity
        var lastCheck = now()
        var silentSince: Double?
        var succeededAt: Double?
        while current < jobs.jobs.count {
            try checkCancelled()
            let taken = inbox.take()
            for message in taken.messages {
                guard let parsed = try? Self.parse(message) else {
                    // A frame stipple cannot read: the socket is not trusted further (/history
                    // still gives the image).
                    socket?.cancel()
                    polling = true
                    break
                }
                if case .executing(let id?, nil) = parsed { ended.insert(id) }
                emit(jobs.handle(parsed, now: now()))
            }
            if taken.ended {
                if !reconnected {
                    // The prompt goes on on the server; a new client id (the old one's socket
                    // may still be registered there). Its frames go to the old id: /history it is.
                    reconnected = true
                    startSocket(clientID: UUID().uuidString.lowercased())
                }
                polling = true
            }
            let job = jobs.jobs[current]
            switch job.outcome {
            case .failed(let line)?:
                await cancelOnServer(after: current)
                throw .failed("\(connection.label): \(line)")
            case .interrupted?:
                await cancelOnServer(after: current)
                throw .failed("\(connection.label): the prompt was interrupted on the server")
            case .succeeded?:
                let since = succeededAt ?? now()
                succeededAt = since
                // /history holds the prompt once its end marker came (or soon after success).
                if ended.contains(job.promptID) || polling || now() - since > Self.endMarkerWait {
                    images += try await collect(current)
                    current += 1
                    succeededAt = nil
                    continue
                }
            case nil:
                let silence = now() - max(lastCheck, Self.seconds(origin.duration(to: taken.lastArrival)))
                if polling ? now() - lastPoll >= Self.seconds(timing.poll) : silence >= Self.seconds(timing.liveness) {
                    // Polling after a drop, or a long silence on an open socket: is the prompt
                    // done, still there, or lost?
                    (lastPoll, lastCheck) = (now(), now())
                    if let entry = try await pollHistory(job.promptID, silentSince: &silentSince) {
                        emit(jobs.finish(current, entry.outcome))
                        continue
                    }
                }
            }
            await sleep()
        }
        observer(.finished(images))
    }

    private static func parse(_ message: WebSocketMessage) throws(ComfyUIMessageError) -> ComfyUIMessage {
        switch message {
        case .text(let text): try ComfyUIMessage.parse(text: text)
        case .binary(let bytes): try ComfyUIMessage.parse(binary: bytes)
        }
    }

    private mutating func emit(_ events: [GenerationEvent]) {
        for event in events {
            if case .started(let start) = event { startedAt[start.imageIndex] = now() }
            observer(event)
        }
    }

    /// `/history/{id}`: the entry once the prompt ended (kept for `collect`); nil while it runs.
    /// A prompt neither in the history nor on the queue is lost (the server restarted, or
    /// someone deleted it); a server that answers nothing for `serverGone` ends the job.
    private mutating func pollHistory(_ id: String, silentSince: inout Double?) async throws(Stop) -> ComfyUIReplies.HistoryEntry? {
        let path = "/history/\(id)"
        do {
            let reply = try await connection.get(path, timeout: timing.request).requireOK(path).jsonObject(path)
            silentSince = nil
            if let entry = ComfyUIReplies.historyEntry(reply, id: id) {
                history[id] = entry
                return entry
            }
            let queue = try await connection.get("/queue", timeout: timing.request)
            guard queue.status == 200, let object = try? queue.jsonObject("/queue") else { return nil }
            if ComfyUIReplies.queueHolds(object, id: id) { return nil }
            // It may have ended between the two requests.
            let again = try await connection.get(path, timeout: timing.request).requireOK(path).jsonObject(path)
            if let entry = ComfyUIReplies.historyEntry(again, id: id) {
                history[id] = entry
                return entry
            }
            throw Stop.failed("\(connection.label) no longer has the prompt (not queued, not in its history: was the server restarted?)")
        } catch let stop as Stop {
            throw stop
        } catch let error as RemoteError {
            if case .status = error.kind { throw failure(error) }
            let start = silentSince ?? now()
            silentSince = start
            if now() - start >= Self.seconds(timing.serverGone) {
                throw .failed("\(connection.label) stopped answering: \(error.cause)")
            }
            return nil
        } catch {
            throw .failed("\(error)")
        }
    }

    /// Prompt `index`'s images: /history names them (the WebSocket's `executed` if it cannot),
    /// /view fetches each.
    private mutating func collect(_ index: Int) async throws(Stop) -> [GeneratedImage] {
        let job = jobs.jobs[index]
        emit(jobs.flush(index))
        if history[job.promptID] == nil {
            let path = "/history/\(job.promptID)"
            if let reply = try? await connection.get(path, timeout: timing.request).requireOK(path).jsonObject(path) {
                history[job.promptID] = ComfyUIReplies.historyEntry(reply, id: job.promptID)
            }
        }
        let listed = history[job.promptID]?.files ?? []
        let files = listed.isEmpty ? job.executedFiles : listed
        let saved = files.filter { $0.type == "output" }
        let chosen = saved.isEmpty ? files : saved
        guard !chosen.isEmpty else {
            throw .failed("\(connection.label): the prompt finished without saving an image (does the workflow end in SaveImage?)")
        }
        var images: [GeneratedImage] = []
        for file in chosen.prefix(64) {
            let view = ComfyUIReplies.viewPath(file)
            let png: PNGFile
            do {
                let reply = try await connection.get(view, timeout: timing.request).requireOK(view)
                png = try PNG.decode(reply.body)
            } catch let error as RemoteError {
                throw failure(error)
            } catch let error as PNGError {
                throw .failed("\(connection.label): \(ComfyUIMessage.visible(file.filename)) is not a PNG stipple can read: \(error.description)")
            } catch {
                throw .failed("\(error)")
            }
            var resolved = workflows[index].request
            (resolved.width, resolved.height) = (png.image.width, png.image.height)
            let texts = png.texts.filter { $0.key == "prompt" }.map { PNGTextPair(key: $0.key, value: $0.value) }
            let image = GeneratedImage(
                image: ComfyUIJob.pixels(png.image), seed: job.seed, imageIndex: job.imageIndex, request: resolved, latents: nil,
                seconds: now() - (startedAt[job.imageIndex] ?? now()),
                serverRecord: ServerRecord(server: backend.serverName, infotext: nil, texts: texts))
            observer(.image(image))
            images.append(image)
        }
        return images
    }

    // MARK: Cancelling

    /// Stops our prompts on the server: with `after`, deletes the queued ones after that one;
    /// without, also interrupts the first unfinished one if it runs (deleting it if it has not
    /// started) and waits (bounded) for the server to confirm. Best effort: errors are ignored.
    private mutating func cancelOnServer(after index: Int? = nil) async {
        let remaining = jobs.jobs.indices.filter { i in !jobs.jobs[i].isDone && index.map { i > $0 } ?? true }
        guard !remaining.isEmpty else { return }
        let timeout = min(timing.request, .seconds(5))
        let running = index == nil ? remaining.first.flatMap { jobs.jobs[$0].started ? $0 : nil } : nil
        if let running {
            _ = try? await connection.postJSON("/interrupt", json: ["prompt_id": jobs.jobs[running].promptID], timeout: timeout)
        }
        let queued = remaining.filter { $0 != running }.map { jobs.jobs[$0].promptID }
        if !queued.isEmpty {
            _ = try? await connection.postJSON("/queue", json: ["delete": queued], timeout: timeout)
        }
        guard let running else { return }
        let deadline = now() + Self.seconds(timing.interruptWait)
        while now() < deadline, !jobs.jobs[running].isDone {
            let taken = inbox.take()
            for message in taken.messages {
                if let parsed = try? Self.parse(message) { _ = jobs.handle(parsed, now: now()) }
            }
            if taken.ended { break }
            await sleep()
        }
    }
}
