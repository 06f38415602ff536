import Foundation

/// The handle a caller keeps on a running (or queued) generation: cancel it, pause it between
/// steps, or let it run exactly one more step while paused. Thread-safe.
///
/// Cancellation is checked before every resnet and transformer block of the UNet and the VAE, so
/// it takes effect within one layer (well under a second on SD1.5 at 512x512), not only between steps.
public final class GenerationControl: @unchecked Sendable {  // state guarded by `condition`
    private let condition = NSCondition()
    private var cancelled = false
    private var paused = false
    /// Steps allowed to run while paused (single-stepping).
    private var stepsGranted = 0

    public init() {}

    /// Stops the generation as soon as possible; it ends with `GenerationError.cancelled`.
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    public var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Holds the generation before its next step until `resume()` or `stepOnce()`.
    public func pause() {
        condition.lock()
        paused = true
        stepsGranted = 0
        condition.unlock()
    }

    public func resume() {
        condition.lock()
        paused = false
        condition.broadcast()
        condition.unlock()
    }

    public var isPaused: Bool {
        condition.lock()
        defer { condition.unlock() }
        return paused
    }

    /// While paused: lets exactly one more step run, then holds again.
    public func stepOnce() {
        condition.lock()
        if paused { stepsGranted += 1 }
        condition.broadcast()
        condition.unlock()
    }

    /// Throws `GenerationError.cancelled` once `cancel()` was called (the per-layer check).
    public func check() throws(GenerationError) {
        if isCancelled { throw .cancelled }
    }

    /// Called before each step: waits while paused (unless a single step was granted), and
    /// throws when cancelled.
    func waitBeforeStep() throws(GenerationError) {
        condition.lock()
        defer { condition.unlock() }
        while paused && stepsGranted == 0 && !cancelled {
            condition.wait()
        }
        if cancelled { throw .cancelled }
        if paused { stepsGranted -= 1 }
    }
}
