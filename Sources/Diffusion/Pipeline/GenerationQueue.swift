import Foundation
import Parallel

/// Where generations run, as the studio's `GenerationController` sees it: `submit` returns at
/// once with the job's control (cancel, pause, single step) and the job reports through
/// `observer`, on any thread, in `GenerationEvent`'s order. The embedded engine is
/// `GenerationQueue`; a remote server (ComfyUI, an A1111-compatible API) is another
/// implementation of the same contract, in the Remote module (docs/ARCHITECTURE.md).
public protocol GenerationBackend: AnyObject, Sendable {
    /// Queues `request` on `target`; the observer receives every event of the job.
    @discardableResult
    func submit(_ request: GenerationRequest, target: ModelTarget,
                observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl

    /// What the backend can do beyond running a job, for the studio's keys and status line.
    var capabilities: BackendCapabilities { get }
}

/// What a backend offers beyond running jobs.
public struct BackendCapabilities: Sendable, Equatable {
    /// Shown in the status line and written into images made there: `embedded`, `ComfyUI 0.8.0`.
    public var name: String
    /// Jobs can be held between steps and single-stepped (only the embedded engine: a server
    /// runs a job through).
    public var canPause: Bool

    public init(name: String, canPause: Bool) {
        (self.name, self.canPause) = (name, canPause)
    }

    public static let embedded = BackendCapabilities(name: "embedded", canPause: true)
}

/// Runs generations one after another on a background DispatchQueue. `submit` returns at once
/// with the job's control; the observer receives the job's events on the queue's thread (hop to
/// your own queue to touch UI state). A job submitted while another runs waits its turn; a
/// cancelled job that has not started ends with `.cancelled` without running.
public final class GenerationQueue: GenerationBackend, Sendable {
    private let queue = DispatchQueue(label: "stipple.generation", qos: .userInitiated)
    private let waiting = Locked(0)

    public init() {}

    /// Jobs submitted and not finished (the running one included).
    public var pendingCount: Int { waiting.withLock { $0 } }

    /// Runs `work` on the queue in turn (tests hold the queue with it).
    func submitBarrier(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    public var capabilities: BackendCapabilities { .embedded }

    /// Queues `request` on the loaded model `target` names; a server's checkpoint fails at once.
    @discardableResult
    public func submit(_ request: GenerationRequest, target: ModelTarget,
                       observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl {
        let control = GenerationControl()
        guard let model = target.embedded else {
            observer(.failed("the embedded engine cannot run \(target.name), a checkpoint on a server: load a local model"))
            return control
        }
        waiting.withLock { $0 += 1 }
        queue.async { [waiting] in
            defer { waiting.withLock { $0 -= 1 } }
            do throws(GenerationError) {
                try control.check()
                let images = try Pipeline(model: model).run(request, control: control, observer: observer)
                observer(.finished(images))
            } catch .cancelled {
                observer(.cancelled)
            } catch {
                observer(.failed(error.description))
            }
        }
        return control
    }
}
