import Foundation
import Testing
@testable import Terminal

#if canImport(Glibc)
import Glibc
#endif

@Suite("Terminal probe")
struct TerminalProbeTests {
    // MARK: No terminal: nothing happens

    @Test("on pipes the probe sends nothing and returns at once")
    func pipes() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }

        let started = ContinuousClock.now
        let result = TerminalProbe(
            timeout: .seconds(5), inputDescriptor: ends[0], outputDescriptor: ends[1]
        ).run()
        #expect(ContinuousClock.now - started < .milliseconds(500))  // far below the 5 s timeout
        #expect(result == TerminalProbe.Result(outputIsTerminal: false, queried: false))

        // Nothing was written to the "terminal".
        var pending: Int32 = 0
        #expect(ioctl(ends[0], UInt(FIONREAD), &pending) == 0)
        #expect(pending == 0)
    }

    @Test("the test runner's own stdin is no terminal: detect returns at once",
          .enabled(if: isatty(STDIN_FILENO) == 0, "stdin is a terminal here"))
    func testRunnerStdin() {
        let started = ContinuousClock.now
        let result = TerminalProbe(timeout: .seconds(5)).run()
        let capabilities = TerminalCapabilities.detect(
            environment: TerminalEnvironment(variables: ["TERM": "xterm-256color"]),
            timeout: .seconds(5))
        #expect(ContinuousClock.now - started < .milliseconds(500))  // far below the 5 s timeout
        #expect(!result.queried)
        #expect(!result.timedOut)
        if isatty(STDOUT_FILENO) == 0 {
            #expect(capabilities.graphics == .none)
        }
    }

    // MARK: A real pseudo-terminal, answered like a real terminal

    @Test("on a pseudo-terminal: exact queries out, replies parsed, settings restored",
          arguments: [Fixture.xtermVT340, .kitty, .tmux33])
    func pseudoTerminal(_ fixture: Fixture) throws {
        let terminal = try PseudoTerminal()
        terminal.setWindowSize(fixture.windowSize)
        let before = try #require(terminal.settings())

        // Answer in three pieces, the way a terminal's replies can straddle reads.
        let reply = fixture.bytes
        let thirds = [reply[..<(reply.count / 3)], reply[(reply.count / 3)..<(2 * reply.count / 3)],
                      reply[(2 * reply.count / 3)...]].map(Array.init)
        let received = terminal.answer(after: EscapeSequence.primaryDeviceAttributesQuery,
                                       with: thirds)

        let result = terminal.probe(timeout: .seconds(3)).run()

        #expect(received.wait() == Array(EscapeSequence.probeQueries().utf8))
        #expect(result.queried)
        #expect(!result.timedOut)
        #expect(result.replies == TerminalReplyParser.parse(reply))
        #expect(result.windowSize == fixture.windowSize)
        #expect(terminal.settings() == before)
    }

    @Test("a terminal that never answers: timed out after the timeout, settings restored")
    func silentTerminal() throws {
        let terminal = try PseudoTerminal()
        let before = try #require(terminal.settings())
        let received = terminal.answer(after: EscapeSequence.primaryDeviceAttributesQuery, with: [])

        let started = ContinuousClock.now
        let result = terminal.probe(timeout: .milliseconds(200)).run()
        let elapsed = ContinuousClock.now - started

        #expect(received.wait().count == EscapeSequence.probeQueries().utf8.count)
        #expect(result.queried)
        #expect(result.timedOut)
        #expect(elapsed >= .milliseconds(200))
        #expect(elapsed < .milliseconds(1000))
        #expect(terminal.settings() == before)
        // Raw mode was really on during the probe: no echo of the queries came back.
        #expect(terminal.readPending().isEmpty)
    }

    @Test("a partial answer without DA1 keeps what came, and times out")
    func partialAnswer() throws {
        let terminal = try PseudoTerminal()
        let before = try #require(terminal.settings())
        _ = terminal.answer(after: EscapeSequence.primaryDeviceAttributesQuery,
                            with: [bytes("␛[?1;0;256S␛[6;")])
        let result = terminal.probe(timeout: .milliseconds(200)).run()
        #expect(result.timedOut)
        #expect(result.replies.colorRegisters == .count(256))
        #expect(result.replies.cellPixelSize == nil)
        #expect(terminal.settings() == before)
    }
}

/// A pseudo-terminal pair: the probe gets the secondary side as its terminal, the test plays
/// the terminal emulator on the primary side.
private final class PseudoTerminal: Sendable {
    let primary: Int32
    let secondary: Int32
    let secondaryPath: String

    struct Failure: Error { let step: String }

    init() throws {
        guard let openPrimary = C.posixOpenpt, let grant = C.grantpt, let unlock = C.unlockpt,
              let name = C.ptsnameR
        else { throw Failure(step: "find posix_openpt, grantpt, unlockpt, ptsname_r in libc") }
        primary = openPrimary(O_RDWR | O_NOCTTY)
        guard primary >= 0 else { throw Failure(step: "posix_openpt") }
        var path = [CChar](repeating: 0, count: 128)
        guard grant(primary) == 0, unlock(primary) == 0, name(primary, &path, path.count) == 0
        else {
            close(primary)
            throw Failure(step: "grantpt/unlockpt/ptsname_r")
        }
        secondaryPath = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                               as: UTF8.self)
        secondary = open(secondaryPath, O_RDWR | O_NOCTTY)
        guard secondary >= 0 else {
            close(primary)
            throw Failure(step: "open \(secondaryPath)")
        }
    }

    deinit {
        close(secondary)
        close(primary)
    }

    /// A probe that takes the secondary side for stdin, stdout and the device.
    func probe(timeout: Duration) -> TerminalProbe {
        TerminalProbe(timeout: timeout, devicePath: secondaryPath,
                      inputDescriptor: secondary, outputDescriptor: secondary)
    }

    func setWindowSize(_ size: TerminalProbe.WindowSize) {
        var window = winsize(ws_row: UInt16(size.rows), ws_col: UInt16(size.columns),
                             ws_xpixel: UInt16(size.pixelWidth), ws_ypixel: UInt16(size.pixelHeight))
        _ = ioctl(secondary, UInt(TIOCSWINSZ), &window)
    }

    /// The secondary side's termios, as bytes to compare.
    func settings() -> [UInt8]? {
        var attributes = termios()
        guard tcgetattr(secondary, &attributes) == 0 else { return nil }
        return withUnsafeBytes(of: &attributes) { Array($0) }
    }

    /// In the background: reads what the probe writes until it ends with `sentinel`, then
    /// writes each of `pieces` with a short pause between. Gives back what it read.
    func answer(after sentinel: String, with pieces: [[UInt8]]) -> Received {
        let received = Received()
        let primary = primary
        let sentinel = Array(sentinel.utf8)
        Thread.detachNewThread {
            var seen: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 256)
            let deadline = ContinuousClock.now + .seconds(5)
            while !seen.ends(with: sentinel) && ContinuousClock.now < deadline {
                var watch = pollfd(fd: primary, events: Int16(POLLIN), revents: 0)
                guard poll(&watch, 1, 100) > 0 else { continue }
                let count = chunk.withUnsafeMutableBytes { read(primary, $0.baseAddress, $0.count) }
                if count > 0 { seen += chunk[..<count] } else { break }
            }
            for piece in pieces {
                piece.withUnsafeBytes { _ = write(primary, $0.baseAddress, $0.count) }
                usleep(5_000)
            }
            received.finish(seen)
        }
        return received
    }

    /// Whatever the primary side can read right now (echo, had there been any).
    func readPending() -> [UInt8] {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        var watch = pollfd(fd: primary, events: Int16(POLLIN), revents: 0)
        while poll(&watch, 1, 50) > 0 {
            let count = chunk.withUnsafeMutableBytes { read(primary, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            pending += chunk[..<count]
        }
        return pending
    }

    /// The bytes the background reader saw, once it is done.
    final class Received: Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        nonisolated(unsafe) private var bytes: [UInt8] = []

        func finish(_ seen: [UInt8]) {
            lock.withLock { bytes = seen }
            done.signal()
        }

        func wait() -> [UInt8] {
            _ = done.wait(timeout: .now() + 10)
            return lock.withLock { bytes }
        }
    }
}

/// libc's pseudo-terminal functions, which Swift's Glibc module leaves out (they need
/// `_XOPEN_SOURCE`), looked up at run time.
private enum C {
    static let posixOpenpt = symbol("posix_openpt", as: (@convention(c) (Int32) -> Int32).self)
    static let grantpt = symbol("grantpt", as: (@convention(c) (Int32) -> Int32).self)
    static let unlockpt = symbol("unlockpt", as: (@convention(c) (Int32) -> Int32).self)
    static let ptsnameR = symbol(
        "ptsname_r", as: (@convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32).self)

    private static func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else {
            return nil
        }
        return unsafeBitCast(address, to: type)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
