import ArgumentParser
import Foundation
import Imaging

/// A failure to report as one line on stderr with a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Writing whole buffers to standard output.
enum StandardOutput {
    /// Writes all of `bytes` to stdout, retrying short writes; a closed pipe ends quietly.
    static func write(_ bytes: [UInt8]) throws {
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Foundation.write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EPIPE { throw ExitCode(141) }
                    throw CommandFailure("cannot write to standard output: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }
}

/// Reads a PNG named on the command line; a problem becomes the command's one-line error.
func readPNG(_ path: String) throws -> PNGFile {
    do {
        return try PNG.read(path: path)
    } catch {
        throw CommandFailure(error.description)
    }
}
