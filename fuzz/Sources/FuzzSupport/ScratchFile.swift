import Glibc  // the fuzz targets are built on Linux only

/// One file per fuzzer process that each input is written to, for entry points that only read
/// from a path. Lives in $TMPDIR (else /tmp) and is removed at exit.
public final class ScratchFile {
    public let path: String

    public init(suffix: String) {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        path = "\(directory)/stipple-fuzz-\(getpid())\(suffix)"
        let removal = strdup(path)
        Self.pending = removal
        atexit { if let path = ScratchFile.pending { unlink(path) } }
    }

    nonisolated(unsafe) private static var pending: UnsafeMutablePointer<CChar>?

    /// Replaces the file's contents with `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
    }
}

/// The fuzzer's input as a buffer (libFuzzer may pass a null pointer for an empty input).
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size)
}

/// The fuzzer's input as a String: invalid UTF-8 is repaired (as `String(decoding:)` does for
/// every file and terminal read in stipple).
public func inputString(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String {
    String(decoding: inputBytes(data, size), as: UTF8.self)
}
