import Foundation

/// Files the user names (models, weights, configs, images, themes): opened only when they are
/// regular files, and without ever blocking. A plain `open` of a FIFO waits for a writer for ever,
/// and one of a device can have side effects, so every such file is opened with `O_NONBLOCK` and
/// checked with `fstat` before anything is read (see docs/DECISIONS.md).
public enum UserFile {
    /// Why a file could not be opened or read; `description` is one line naming the path.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let path: String
        /// What is wrong, without the path: "no such file", "is not a regular file (a FIFO)".
        public let reason: String
        /// The `errno` behind it, 0 for "not a regular file".
        public let code: Int32

        public init(path: String, reason: String, code: Int32) {
            (self.path, self.reason, self.code) = (path, reason, code)
        }

        public var description: String { "\(path): \(reason)" }
        /// The file does not exist (so callers can treat an optional file as absent).
        public var isMissing: Bool { code == ENOENT }
    }

    /// An open descriptor of the regular file at `path` (blocking mode restored, close-on-exec).
    /// The caller closes it.
    public static func open(_ path: String) throws(Problem) -> Int32 {
        try checkRegular(path)  // devices are not even opened; the fstat below closes the race
        let fd = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw Problem(path: path, reason: reason(errno), code: errno) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            throw Problem(path: path, reason: reason(code), code: code)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Problem(path: path, reason: "is not a regular file (\(kind(status.st_mode)))", code: 0)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Throws unless `path` is a regular file (for APIs that open the file themselves; `stat` does
    /// not block on a FIFO). Follows symbolic links, as opening does.
    public static func checkRegular(_ path: String) throws(Problem) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw Problem(path: path, reason: reason(errno), code: errno) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw Problem(path: path, reason: "is not a regular file (\(kind(status.st_mode)))", code: 0)
        }
    }

    /// The whole content of the regular file at `path`, memory-mapped when it is not empty (so a
    /// caller reading only a header touches only those pages).
    public static func read(_ path: String) throws(Problem) -> Data {
        let fd = try open(path)
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw Problem(path: path, reason: reason(errno), code: errno) }
        let size = Int(status.st_size)
        if size == 0 { return Data() }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              mapping != UnsafeMutableRawPointer(bitPattern: -1) else {
            return try readAll(fd, path: path)
        }
        return Data(bytesNoCopy: mapping, count: size, deallocator: .custom { pointer, count in
            munmap(pointer, count)
        })
    }

    /// The regular file at `path` as UTF-8 text; invalid UTF-8 is an error.
    public static func readText(_ path: String) throws(Problem) -> String {
        let data = try read(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw Problem(path: path, reason: "is not UTF-8 text", code: EILSEQ)
        }
        return text
    }

    private static func readAll(_ fd: Int32, path: String) throws(Problem) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Problem(path: path, reason: reason(errno), code: errno)
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    /// A short phrase for an `errno` from opening or reading.
    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES: "permission denied"
        case EISDIR: "is not a regular file (a folder)"
        case ENOTDIR: "no such file (a part of the path is not a folder)"
        default: String(cString: strerror(code)).lowercased()
        }
    }

    /// What a non-regular file is, for the message.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFLNK: "a symbolic link"
        default: "an unknown kind of file"
        }
    }
}
