#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Asks the terminal itself what it can do: writes the capability queries to `/dev/tty` in raw
/// mode and reads the answers until the DA1 reply (sent last) or a timeout.
///
/// It runs only when standard input and output are both terminals, the process is in the
/// terminal's foreground process group, and the device opens; otherwise it sends nothing and
/// returns at once. The terminal's settings are put back on every path.
public struct TerminalProbe: Sendable {
    /// The terminal's size from `TIOCGWINSZ`.
    public struct WindowSize: Sendable, Equatable {
        /// Columns of character cells.
        public var columns: Int
        /// Rows of character cells.
        public var rows: Int
        /// Width of the text area in pixels; 0 when the terminal does not say.
        public var pixelWidth: Int
        /// Height of the text area in pixels; 0 when the terminal does not say.
        public var pixelHeight: Int

        /// A window of `columns` × `rows` cells and `pixelWidth` × `pixelHeight` pixels.
        public init(columns: Int, rows: Int, pixelWidth: Int = 0, pixelHeight: Int = 0) {
            self.columns = columns
            self.rows = rows
            self.pixelWidth = pixelWidth
            self.pixelHeight = pixelHeight
        }
    }

    /// What one run found.
    public struct Result: Sendable, Equatable {
        /// Whether standard output is a terminal; when not, nothing should draw images at all.
        public var outputIsTerminal: Bool
        /// Whether the queries were written to the terminal.
        public var queried: Bool
        /// The replies that came back (empty when nothing was queried).
        public var replies: TerminalReplies
        /// Cells and pixels from `TIOCGWINSZ`, when there was a terminal to ask.
        public var windowSize: WindowSize?

        /// A result of these parts.
        public init(
            outputIsTerminal: Bool,
            queried: Bool,
            replies: TerminalReplies = TerminalReplies(),
            windowSize: WindowSize? = nil
        ) {
            self.outputIsTerminal = outputIsTerminal
            self.queried = queried
            self.replies = replies
            self.windowSize = windowSize
        }

        /// The queries went out but the DA1 sentinel never came back within the timeout.
        public var timedOut: Bool { queried && !replies.receivedDeviceAttributes }
    }

    /// How long to wait for the DA1 reply; a local terminal answers in a few milliseconds,
    /// one across ssh in a round trip.
    public var timeout: Duration
    /// The terminal device the queries are written to and the replies read from.
    public var devicePath: String
    /// The descriptor that must be a terminal for the answers to come from the keyboard side.
    public var inputDescriptor: Int32
    /// The descriptor that must be a terminal for anything drawn to be seen.
    public var outputDescriptor: Int32
    /// The bytes written, all in one write; the DA1 query must come last.
    public var queries: [UInt8]

    /// A probe of `/dev/tty` on behalf of standard input and output.
    public init(
        timeout: Duration = .milliseconds(300),
        devicePath: String = "/dev/tty",
        inputDescriptor: Int32 = STDIN_FILENO,
        outputDescriptor: Int32 = STDOUT_FILENO,
        queries: [UInt8] = Array(EscapeSequence.probeQueries().utf8)
    ) {
        self.timeout = timeout
        self.devicePath = devicePath
        self.inputDescriptor = inputDescriptor
        self.outputDescriptor = outputDescriptor
        self.queries = queries
    }

    /// What can be known without writing anything: whether standard output is a terminal,
    /// and its size.
    public func inspect() -> Result {
        let outputIsTerminal = isatty(outputDescriptor) == 1
        return Result(
            outputIsTerminal: outputIsTerminal,
            queried: false,
            windowSize: outputIsTerminal ? Self.windowSize(of: outputDescriptor) : nil
        )
    }

    /// Sends the queries and collects the replies; see the type's description for when it
    /// declines to (then it returns what ``inspect()`` does).
    public func run() -> Result {
        guard isatty(outputDescriptor) == 1, isatty(inputDescriptor) == 1 else { return inspect() }
        let device = open(devicePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard device >= 0 else { return inspect() }
        defer { close(device) }

        var result = Result(outputIsTerminal: true, queried: false,
                            windowSize: Self.windowSize(of: device))
        // A background job touching its controlling terminal's modes or input would be stopped
        // (SIGTTOU, SIGTTIN); then we only go by the environment. (tcgetpgrp fails on a
        // terminal that is not our controlling one, where those signals do not apply.)
        let foreground = tcgetpgrp(device)
        guard foreground == -1 || foreground == getpgrp() else { return result }
        withRawMode(device) {
            guard Self.writeAll(queries, to: device) else { return }
            result.queried = true
            result.replies = readReplies(from: device)
        }
        return result
    }

    // MARK: Steps

    /// Runs `body` with `device` in raw mode (no echo, no line editing, no signal keys,
    /// reads that never block) and restores the saved settings however `body` ends.
    private func withRawMode(_ device: Int32, _ body: () -> Void) {
        var saved = termios()
        guard tcgetattr(device, &saved) == 0 else { return }
        defer { _ = tcsetattr(device, TCSANOW, &saved) }

        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { controlCharacters in
            controlCharacters[Int(VMIN)] = 0
            controlCharacters[Int(VTIME)] = 0
        }
        guard tcsetattr(device, TCSANOW, &raw) == 0 else { return }
        body()
    }

    /// Reads with `poll` until the DA1 reply has been parsed or `timeout` has passed.
    private func readReplies(from device: Int32) -> TerminalReplies {
        var parser = TerminalReplyParser()
        var chunk = [UInt8](repeating: 0, count: 1024)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)

        while !parser.replies.receivedDeviceAttributes {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            var watch = pollfd(fd: device, events: Int16(POLLIN), revents: 0)
            let ready = poll(&watch, 1, Self.milliseconds(roundingUp: remaining))
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }  // the loop head notices the deadline

            if watch.revents & Int16(POLLIN) != 0 {
                let count = chunk.withUnsafeMutableBytes { read(device, $0.baseAddress, $0.count) }
                if count > 0 {
                    parser.consume(chunk[..<count])
                    continue
                }
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
            }
            if watch.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { break }
        }
        return parser.replies
    }

    /// Writes every byte, retrying short writes and interruptions.
    private static func writeAll(_ bytes: [UInt8], to device: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            guard let start = buffer.baseAddress else { return true }
            var offset = 0
            while offset < buffer.count {
                let written = write(device, start + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// `TIOCGWINSZ` on `descriptor`; nil when it fails or reports no cells.
    static func windowSize(of descriptor: Int32) -> WindowSize? {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0
        else { return nil }
        return WindowSize(
            columns: Int(size.ws_col), rows: Int(size.ws_row),
            pixelWidth: Int(size.ws_xpixel), pixelHeight: Int(size.ws_ypixel)
        )
    }

    /// `duration` as whole milliseconds for `poll`, rounded up so a wait never ends early.
    private static func milliseconds(roundingUp duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let milliseconds = seconds * 1000 + (attoseconds + perMillisecond - 1) / perMillisecond
        return Int32(clamping: milliseconds)
    }
}
