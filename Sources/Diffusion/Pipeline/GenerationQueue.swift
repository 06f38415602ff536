import Foundation
import Parallel

/// Where generations run, as the studio's `GenerationController` sees it: `submit` returns at
/// once with the job's control (cancel, pause, single step) and the job reports through
/// `observer`, on any thread, in `GenerationEvent`'s order. The embedded engine
/// (`GenerationQueue`) is the one backend today; a remote server (ComfyUI, an A1111-compatible
/// API) is another implementation of the same contract (docs/ARCHITECTURE.md).
public protocol GenerationBackend: AnyObject, Sendable {
    /// Queues `request` on `model`; the observer receives every event of the job.
    @discardableResult
    func submit(_ request: GenerationRequest, model: StableDiffusionModel,
                observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl
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

    /// Queues `request` on `model`.
    @discardableResult
    public func submit(_ request: GenerationRequest, model: StableDiffusionModel,
                       observer: @escaping @Sendable (GenerationEvent) -> Void) -> GenerationControl {
        let control = GenerationControl()
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
