import Foundation
import Parallel

/// Watches a generation server while the studio runs, so a server that goes away (or comes
/// back) shows in the status line before anyone presses Enter: `probe` is asked every
/// `interval` seconds on a background task and answers the server's description (`ComfyUI 0.8.0
/// at 127.0.0.1:8188`) or why it cannot be used; each change is posted to the inbox once, never
/// the same state twice. The probe must bound its own wait (a short timeout): the loop never
/// blocks the UI, whose thread only drains the inbox.
public final class BackendMonitor: Sendable {
    public enum State: Sendable, Equatable {
        case unknown
        case up(String)
        case down(String)
    }

    private let task: Locked<Task<Void, Never>?> = Locked(nil)
    private let state = Locked(State.unknown)

    public init() {}

    /// The last state seen.
    public var current: State { state.withLock { $0 } }

    /// Starts asking `probe` now and every `interval` seconds after, posting changes to `inbox`.
    public func start(inbox: EventInbox, interval: Duration = .seconds(10),
                      probe: @escaping @Sendable () async -> Result<String, ProbeFailure>) {
        let state = state
        let loop = Task.detached(priority: .utility) {
            while !Task.isCancelled {
                let seen: State
                switch await probe() {
                case .success(let description): seen = .up(description)
                case .failure(let failure): seen = .down(failure.description)
                }
                let previous = state.withLock { old in
                    defer { old = seen }
                    return old
                }
                if seen != previous, !Task.isCancelled {
                    switch (previous, seen) {
                    case (.down, .up(let description)): inbox.post(.backend("\(description) is back.", isError: false))
                    case (.unknown, .up(let description)): inbox.post(.backend("Connected to \(description).", isError: false))
                    case (_, .down(let why)): inbox.post(.backend(why + "; checking again every \(interval.components.seconds) s", isError: true))
                    default: break
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { old in
            old?.cancel()
            old = loop
        }
    }

    public func stop() {
        task.withLock { old in
            old?.cancel()
            old = nil
        }
    }

    /// Why a probe failed, one line.
    public struct ProbeFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
