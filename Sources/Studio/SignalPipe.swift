import Foundation

/// Signals turned into bytes on a pipe (the self-pipe trick): the handler only writes.
final class SignalPipe {
    let readEnd: Int32
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    init(signals: [Int32]) {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        readEnd = fds[0]
        Self.writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        // A parent may have started us with these blocked (signal masks are inherited): unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in signals {
            signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(SignalPipe.writeEnd, &byte, 1)
            }
        }
    }

    /// The signals received since the last call.
    func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var received: [Int32] = []
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n].map { Int32($0) }
        }
        return received
    }
}
