import Foundation

/// Gives the terminal back when the process dies of a fatal signal: a Swift runtime error (a trap:
/// SIGILL or SIGTRAP), a crash in C code (SIGSEGV, SIGBUS, SIGFPE) or an abort. Curses' own exit
/// handler does not run then, so the tty would stay raw, in the alternate screen, with the cursor
/// hidden. `install()` saves the tty's settings before curses changes them; the handler restores
/// them with `tcsetattr` and writes the reset bytes with `write` (both async-signal-safe), then
/// re-raises the signal with its default action so the exit status and core dump stay as they
/// were.
public enum TerminalRescue {
    /// The saved settings, in memory of `termios`'s full C size: `tcgetattr` writes 60 bytes, and
    /// AddressSanitizer reported the Swift global they used to go into as a 57-byte object, the
    /// write overflowing it by three (found by the sanitizer run of the studio's end-to-end tests).
    nonisolated(unsafe) static let saved: UnsafeMutablePointer<termios> = {
        let pointer = UnsafeMutablePointer<termios>.allocate(capacity: 1)
        pointer.initialize(to: termios())
        return pointer
    }()
    nonisolated(unsafe) static var haveSaved = false
    nonisolated(unsafe) static var fd: Int32 = -1
    /// Bracketed paste off, attributes reset, cursor shown, alternate screen left, a new line.
    static let resetBytes: [UInt8] = Array((EscapeSequence.bracketedPasteOff + EscapeSequence.resetAttributes
        + EscapeSequence.showCursor + EscapeSequence.leaveAlternateScreen + "\r\n").utf8)
    nonisolated(unsafe) static var resetBuffer: UnsafeMutablePointer<UInt8>?

    public static let fatalSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT]

    /// Saves the settings of the terminal on `descriptor` and installs the fatal-signal handlers.
    public static func install(descriptor: Int32 = STDIN_FILENO) {
        fd = descriptor
        haveSaved = tcgetattr(descriptor, saved) == 0
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: resetBytes.count)
        buffer.initialize(from: resetBytes, count: resetBytes.count)
        resetBuffer = buffer
        for number in fatalSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { received in
                TerminalRescue.restore()
                signal(received, SIG_DFL)
                raise(received)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND) | UInt32(SA_NODEFER))
            sigaction(number, &action, nil)
        }
    }

    /// Restores the saved tty settings and writes the reset bytes (async-signal-safe).
    public static func restore() {
        if haveSaved { tcsetattr(fd, TCSANOW, saved) }
        if let resetBuffer { _ = write(STDOUT_FILENO, resetBuffer, resetBytes.count) }
    }
}
