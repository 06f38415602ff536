import Diffusion
import Foundation
import Imaging
import Synchronization

/// Generations on a ComfyUI server (`[backend] kind = "comfyui"`): each image of a request is
/// one ComfyUI prompt (batch size 1, seed + i, so image i is the embedded engine's image i),
/// queued together and followed on the server's WebSocket; images come from `/history` and
/// `/view`. Jobs run through (no pause); cancelling interrupts the running prompt and deletes
/// the queued ones. See `ComfyUIRun` for the protocol and its failure handling.
public final class ComfyUIBackend: GenerationBackend, Sendable {
    public let connection: RemoteConnection
    /// A saved API-format workflow run instead of the built graph (its prompt and seed filled in).
    public let workflow: Data?
    public let timing: Timing
    private let known = Mutex<Known>(Known())

    struct Known {
        var version: String?
        var loras: [String]?
    }

    /// How long each wait may last. The defaults suit a server on a LAN under load (a first job
    /// loads the checkpoint for a minute); tests shorten them.
    public struct Timing: Sendable {
        /// One HTTP request (an upload, `/prompt`, `/history`, a `/view` download).
        public var request: Duration = .seconds(30)
        /// Opening the WebSocket and its first `status` frame.
        public var connect: Duration = .seconds(10)
        /// The server answering nothing this long ends the job (`stopped answering`).
        public var serverGone: Duration = .seconds(60)
        /// `/history` and `/queue` polling after the WebSocket dropped.
        public var poll: Duration = .seconds(1)
        /// A silent WebSocket this long: `/queue` is asked whether the prompt is still there.
        public var liveness: Duration = .seconds(30)
        /// After an interrupt, how long to wait for the server to confirm it.
        public var interruptWait: Duration = .seconds(10)
        /// How often cancellation and new frames are checked.
        public var tick: Duration = .milliseconds(50)

        public init() {}
    }

    /// `connection` to the server; `workflow` the bytes of an API-format workflow file (refused
    /// here when it is not one: UI format, not JSON).
    public init(connection: RemoteConnection, workflow: Data? = nil, timing: Timing = Timing()) throws(ComfyUIWorkflowError) {
        if let workflow { _ = try Self.parseWorkflow(workflow) }
        self.connection = connection
        self.workflow = workflow
        self.timing = timing
    }

    static func parseWorkflow(_ data: Data) throws(ComfyUIWorkflowError) -> [String: Any] {
        guard data.count <= 64 << 20 else { throw ComfyUIWorkflowError("the workflow file is larger than 64 MB") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ComfyUIWorkflowError("the workflow file is not a JSON object (export it from ComfyUI with \"Save (API format)\")")
        }
        try ComfyUIWorkflow.requireAPIFormat(object)
        return object
    }

    /// `ComfyUI 0.8.0` once `catalog()` has read the version; `ComfyUI` before.
    public var serverName: String { ComfyUIReplies.serverName(version: known.withLock { $0.version }) }

    public var capabilities: BackendCapabilities { BackendCapabilities(name: serverName, canPause: false) }

    // MARK: Catalog

    /// The server's version, checkpoints, samplers, schedulers and LoRAs. Lists come from
    /// `/models/{folder}` (ComfyUI 0.3.30 on), else from `/object_info` of the loader nodes.
    public func catalog() async throws(RemoteError) -> ComfyUICatalog {
        let timeout = timing.request
        let stats = try await connection.get("/system_stats", timeout: timeout).requireOK("/system_stats").jsonObject("/system_stats")
        guard let version = ComfyUIReplies.version(stats) else {
            throw RemoteError(server: connection.label, method: "GET", path: "/system_stats", kind: .malformed("a comfyui_version"))
        }
        let sampler = try await objectInfo("KSampler")
        let checkpoints = try await folder("checkpoints", node: "CheckpointLoaderSimple", input: "ckpt_name")
        let loras = try await folder("loras", node: "LoraLoader", input: "lora_name")
        let server = ComfyUIReplies.serverName(version: version)
        known.withLock { $0 = Known(version: version, loras: loras) }
        return ComfyUICatalog(
            version: version, checkpoints: checkpoints.map { RemoteCheckpoint(name: $0, server: server) },
            samplers: ComfyUIReplies.choices(sampler, node: "KSampler", input: "sampler_name"),
            schedulers: ComfyUIReplies.choices(sampler, node: "KSampler", input: "scheduler"), loras: loras)
    }

    private func objectInfo(_ node: String) async throws(RemoteError) -> [String: Any] {
        let path = "/object_info/\(node)"
        return try await connection.get(path, timeout: timing.request).requireOK(path).jsonObject(path)
    }

    /// `/models/{name}`, or the loader node's choices where the server has no such route.
    private func folder(_ name: String, node: String, input: String) async throws(RemoteError) -> [String] {
        let path = "/models/\(name)"
        let reply = try await connection.get(path, timeout: timing.request)
        if reply.status == 404 {
            return ComfyUIReplies.choices(try await objectInfo(node), node: node, input: input)
        }
        return ComfyUIReplies.names(try reply.requireOK(path).jsonArray(path))
    }

    /// The LoRA list: the catalog's, or fetched now (again when `refresh`).
    func loras(refresh: Bool) async throws(RemoteError) -> [String] {
        if !refresh, let cached = known.withLock({ $0.loras }) { return cached }
        let loras = try await folder("loras", node: "LoraLoader", input: "lora_name")
        known.withLock { $0.loras = loras }
        return loras
    }

    // MARK: Jobs

    /// Runs `request` on the server's checkpoint `target` names; a loaded model fails at once.
    @discardableResult
    public func submit(_ request: GenerationRequest, target: ModelTarget,
                       observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl {
        let control = GenerationControl()
        guard case .remote(let checkpoint) = target else {
            observer(.failed("\(serverName) cannot run \(target.name), a model loaded here: choose one of the server's checkpoints"))
            return control
        }
        Task { [self] in
            var run = ComfyUIRun(backend: self, request: request, checkpoint: checkpoint, control: control, observer: observer)
            await run.run()
        }
        return control
    }
}

/// The WebSocket's messages as they arrive, for the job loop to take in turn.
final class ComfyUIInbox: Sendable {
    private let state = Mutex<(messages: [WebSocketMessage], ended: Bool, lastArrival: ContinuousClock.Instant)>(([], false, .now))
    /// The most messages held; previews beyond it are dropped (text frames are kept).
    static let capacity = 4096

    func push(_ message: WebSocketMessage) {
        state.withLock { state in
            state.lastArrival = .now
            if state.messages.count >= Self.capacity, case .binary = message { return }
            state.messages.append(message)
        }
    }

    func end() { state.withLock { $0.ended = true } }

    /// Whether a message held so far matches, and whether the socket has ended; nothing is taken.
    func peek(_ matches: (WebSocketMessage) -> Bool) -> (found: Bool, ended: Bool) {
        state.withLock { state in (state.messages.contains(where: matches), state.ended) }
    }

    /// The messages so far, whether the socket has ended, and when the last one came.
    func take() -> (messages: [WebSocketMessage], ended: Bool, lastArrival: ContinuousClock.Instant) {
        state.withLock { state in
            defer { state.messages.removeAll(keepingCapacity: true) }
            return (state.messages, state.ended, state.lastArrival)
        }
    }
}

extension ComfyUIBackend: RemoteBackend {
    /// `/system_stats`, asked each time (small; the version it names is kept).
    public func identify() async throws -> String {
        let stats = try await connection.get("/system_stats", timeout: .seconds(5)).requireOK("/system_stats").jsonObject("/system_stats")
        guard let version = ComfyUIReplies.version(stats) else {
            throw RemoteError(server: connection.label, method: "GET", path: "/system_stats", kind: .malformed("a comfyui_version"))
        }
        return ComfyUIReplies.serverName(version: version)
    }

    /// ComfyUI has no current checkpoint: a graph names one; the first listed is the default.
    public func checkpoints() async throws -> (list: [RemoteCheckpoint], current: RemoteCheckpoint?) {
        let catalog = try await catalog()
        return (catalog.checkpoints, catalog.checkpoints.first)
    }
}
