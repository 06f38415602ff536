import Diffusion
import Foundation
import Parallel

/// What background work hands to the thread that owns the studio's state (the main loop, or a
/// test): engine events and model loads, kept in a locked list, with one byte written to a pipe
/// per event so that thread can `poll` for them next to the tty.
public final class EventInbox: Sendable {
    public enum Event: Sendable {
        case engine(GenerationEvent)
        case modelLoaded(ModelTarget, seconds: Double)
        case modelFailed(String)
        /// The backend's state changed (a server connected, went away, came back): one line for
        /// the status line, an error when generations cannot run there now.
        case backend(String, isError: Bool)
        /// The forward view's or the grid's background work.
        case view(ViewEvent)
    }

    /// What the pane views' background work reports.
    public enum ViewEvent: Sendable {
        /// The forward view's image encoded (the process, its description).
        case forwardReady(ForwardProcess, String)
        /// x_t decoded at a timestep index.
        case forwardFrame(Int, PixelImage)
        /// A cell of the grid ended: its image (and what it ran on), or why it failed.
        case gridCell(Int, PixelImage?, GeneratedImage?, ModelUse?, failure: String?)
        /// The grid started a cell.
        case gridRunning(Int)
        /// The grid ended (all cells, or cancelled).
        case gridFinished(cancelled: Bool)
        /// Something a view needed failed: one line for the status.
        case failed(String)
    }

    private let pending = Locked<[Event]>([])
    /// Readable when events are waiting: poll it.
    public let readEnd: Int32
    private let writeEnd: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Called from any thread.
    public func post(_ event: Event) {
        pending.withLock { $0.append(event) }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// The events posted since the last call, oldest first.
    public func drain() -> [Event] {
        var scratch = [UInt8](repeating: 0, count: 256)
        while read(readEnd, &scratch, scratch.count) > 0 {}
        return pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }

    /// Waits up to `seconds` for an event (for a caller without a poll loop of its own); whether
    /// one is waiting.
    public func wait(seconds: Double) -> Bool {
        var fd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&fd, 1, Int32(max(0, seconds * 1000)))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }
}
