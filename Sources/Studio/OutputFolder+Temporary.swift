import Foundation

extension OutputFolder {
    /// How old a temporary file of ours must be before it is removed even though a process with
    /// the writer's id is running (the id may have been reused): a write takes milliseconds.
    static let staleAge: TimeInterval = 10 * 60

    /// A new temporary file's name in a folder: `.stipple-PID-RANDOM.tmp` (hidden, so no image
    /// list shows it, and named after its writer, so a leftover can be told from a live one).
    static func temporaryName() -> String {
        ".stipple-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).tmp"
    }

    /// The id of the process that wrote `name`, when it is one of our temporary files.
    static func writer(ofTemporary name: String) -> pid_t? {
        guard name.hasPrefix(".stipple-"), name.hasSuffix(".tmp") else { return nil }
        let parts = name.dropFirst(".stipple-".count).dropLast(".tmp".count).split(separator: "-")
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, UInt64(parts[1]) != nil else { return nil }
        return pid
    }

    /// Removes temporary files a save left in `folder` when its process died before cleaning up
    /// (SIGKILL, power loss): those whose writer is no longer running, and any older than
    /// `staleAge`. Best effort; files of running writers are left alone. Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaryFiles(in folder: URL, now: Date = Date()) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed: [String] = []
        for name in names {
            guard let pid = writer(ofTemporary: name) else { continue }
            let path = folder.appendingPathComponent(name).path
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            let modified = Date(timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec))
            let writerGone = kill(pid, 0) != 0 && errno == ESRCH
            guard writerGone || now.timeIntervalSince(modified) > staleAge else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Writes `bytes` to a new temporary file in `folder` (created exclusively, never following a
    /// link) and returns its path; nil with `errno` set when it cannot.
    static func writeTemporary(_ bytes: [UInt8], in folder: URL) -> String? {
        let path = folder.appendingPathComponent(temporaryName()).path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return nil }
        var offset = 0
        let written = bytes.withUnsafeBytes { raw -> Bool in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        let code = errno
        guard written, close(fd) == 0 else {
            if written { errno = code }
            unlink(path)
            return nil
        }
        return path
    }
}
