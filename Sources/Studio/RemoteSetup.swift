import Diffusion
import Foundation
import Parallel
import Remote
import UserFiles

/// A generation server made ready from `BackendSettings`: its backend (ComfyUI's or the A1111
/// API's), what the status line's monitor asks it, and how a typed name becomes one of its
/// checkpoints. Nothing here talks to the server until asked; every wait is bounded.
public struct RemoteSetup: Sendable {
    public let backend: any RemoteBackend
    /// Problems that do not stop the run (a token file others can read), one line each.
    public let warnings: [String]

    /// The default address of each kind of server (their own defaults).
    public static func defaultURL(_ kind: BackendSettings.Kind) -> String? {
        switch kind {
        case .embedded: nil
        case .comfyui: "http://127.0.0.1:8188"
        case .a1111: "http://127.0.0.1:7860"
        }
    }

    /// The backend `settings` name, or a one-line error naming the setting that is wrong (the
    /// address, the credentials, the workflow file).
    public init(_ settings: BackendSettings, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let url = settings.url ?? Self.defaultURL(settings.kind) else {
            throw SetupError(description: "the embedded engine needs no server")
        }
        let address: ServerAddress
        do {
            address = try ServerAddress(parsing: url)
        } catch {
            throw SetupError(description: "backend url: \(error.description)")
        }
        var warnings: [String] = []
        let credentials: Credentials
        do {
            credentials = try Credentials.load(tokenEnv: settings.tokenEnv, tokenFile: settings.tokenFile.map(Self.expandingTilde),
                                               user: settings.user, passwordEnv: settings.passwordEnv,
                                               passwordFile: settings.passwordFile.map(Self.expandingTilde),
                                               environment: environment, warnings: &warnings)
        } catch {
            throw SetupError(description: "backend credentials: \(error.description)")
        }
        switch settings.kind {
        case .embedded:
            throw SetupError(description: "the embedded engine needs no server")
        case .comfyui:
            let connection = RemoteConnection(address: address, credentials: credentials, serverName: "ComfyUI")
            var workflow: Data?
            if let path = settings.workflow.map(Self.expandingTilde) {
                let data: Data
                do {
                    data = try UserFile.read(path)
                } catch {
                    throw SetupError(description: "backend workflow: \(error.description)")
                }
                // An API workflow is a few KB; a big file is not one (and is not read into memory twice).
                guard data.count <= 16 << 20 else {
                    throw SetupError(description: "backend workflow \(path): \(data.count >> 20) MB is not a ComfyUI workflow")
                }
                workflow = Data(data)
            }
            do {
                backend = try ComfyUIBackend(connection: connection, workflow: workflow)
            } catch {
                throw SetupError(description: "backend workflow \(settings.workflow ?? ""): \(error.description)")
            }
        case .a1111:
            guard settings.workflow == nil else { throw SetupError(description: "a workflow is ComfyUI's: backend kind a1111 takes none") }
            backend = A1111Backend(connection: RemoteConnection(address: address, credentials: credentials, serverName: "A1111 API"))
        }
        self.warnings = warnings
    }

    /// What the status line's monitor asks: who answers, or why nobody does.
    public func probe() async -> Result<String, BackendMonitor.ProbeFailure> {
        do {
            return .success("\(try await backend.identify()) at \(backend.connection.address.hostAndPort)")
        } catch {
            return .failure(BackendMonitor.ProbeFailure("\(error)"))
        }
    }

    /// The checkpoint `name` names on the server (nil: its current one), waiting at most
    /// `timeout`; for threads that may block (the CLI, the studio's loader queue).
    public func checkpoint(named name: String?, timeout: Duration = .seconds(30)) throws -> RemoteCheckpoint {
        let backend = backend
        return try Self.blocking(timeout: timeout, what: "\(backend.connection.label) to list its checkpoints") {
            try await backend.checkpoint(named: name)
        }
    }

    /// Runs `body` to its end from synchronous code (never the main loop's thread): the result,
    /// or its error, or a timeout naming `what` was waited for.
    static func blocking<T: Sendable>(timeout: Duration, what: String,
                                      _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Locked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            do {
                let value = try await body()
                result.withLock { $0 = .success(value) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        guard done.wait(timeout: .now() + seconds) == .success else {
            task.cancel()
            throw SetupError(description: "no answer from \(what) within \(Int(seconds)) s")
        }
        guard let outcome = result.withLock({ $0 }) else { throw SetupError(description: "no answer from \(what)") }
        return try outcome.get()
    }

    static func expandingTilde(_ path: String) -> String {
        path == "~" || path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst() : path
    }

    public struct SetupError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }
}
