import Foundation
import Parallel
import Testing
@testable import Studio

/// The status line follows a server's state: one message per change, none while it stays.
@Suite struct BackendMonitorTests {
    @Test func eachChangeIsPostedOnce() throws {
        let inbox = EventInbox()
        let answers: Locked<[Result<String, BackendMonitor.ProbeFailure>]> = Locked([
            .success("ComfyUI 0.8.0 at 127.0.0.1:8188"), .success("ComfyUI 0.8.0 at 127.0.0.1:8188"),
            .failure(.init("ComfyUI at 127.0.0.1:8188 is not reachable (connection refused)")),
            .failure(.init("ComfyUI at 127.0.0.1:8188 is not reachable (connection refused)")),
            .success("ComfyUI 0.8.0 at 127.0.0.1:8188"),
        ])
        let asked = Locked(0)
        let monitor = BackendMonitor()
        monitor.start(inbox: inbox, interval: .milliseconds(5)) {
            asked.withLock { $0 += 1 }
            return answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
        }
        var messages: [(String, Bool)] = []
        let deadline = Date().addingTimeInterval(10)
        while messages.count < 3, Date() < deadline {
            _ = inbox.wait(seconds: 0.5)
            for case .backend(let text, let isError) in inbox.drain() { messages.append((text, isError)) }
        }
        // A few more probes of the same state add nothing.
        let before = asked.withLock { $0 }
        while asked.withLock({ $0 }) < before + 5, Date() < deadline { usleep(2000) }
        monitor.stop()
        for case .backend(let text, let isError) in inbox.drain() { messages.append((text, isError)) }
        #expect(messages.map(\.0) == [
            "Connected to ComfyUI 0.8.0 at 127.0.0.1:8188.",
            "ComfyUI at 127.0.0.1:8188 is not reachable (connection refused); checking again every 0 s",
            "ComfyUI 0.8.0 at 127.0.0.1:8188 is back.",
        ])
        #expect(messages.map(\.1) == [false, true, false])
        #expect(monitor.current == .up("ComfyUI 0.8.0 at 127.0.0.1:8188"))
    }
}
