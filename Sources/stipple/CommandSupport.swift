import ArgumentParser
import Diffusion
import Foundation
import Imaging
import Studio

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

/// Reads a PNG or JPEG named on the command line; a problem becomes the command's one-line error.
func readImage(_ path: String) throws -> RGBImage {
    do {
        return try ImageFile.read(path: path)
    } catch {
        throw CommandFailure(error.description)
    }
}

/// An image's size, its generation texts (`ImageTexts`: PNG text chunks, JPEG/WebP EXIF and
/// comments, stealth text in a text-less PNG's pixels; never pixels otherwise), where they were
/// found, and the generation metadata they hold (`ImageMetadata.read`: A1111's `parameters`,
/// ComfyUI's graph, Fooocus, InvokeAI, NovelAI, SwarmUI, stable-diffusion.cpp; nil when none), for
/// `info` and `generate --from`; a problem becomes the command's one-line error naming the file.
func readImageTexts(_ path: String) throws -> (width: Int, height: Int, texts: [PNGText], image: ImageTexts,
                                                metadata: ImageMetadata?) {
    let file: ImageTexts
    do {
        file = try ImageTexts.read(path: path)
    } catch {
        throw CommandFailure(error.description)
    }
    return (file.width, file.height, file.texts, file, try readMetadata(file.texts.map { ($0.key, $0.value) }, of: path))
}

/// The generation metadata in an image's texts (keyword, value), whatever container they came
/// from; a format stipple recognises but cannot read is a one-line error naming `path`.
func readMetadata(_ texts: [(key: String, value: String)], of path: String) throws -> ImageMetadata? {
    do {
        return try ImageMetadata.read(texts: texts)
    } catch {
        throw CommandFailure("\(path): \(error)")
    }
}

/// Checks that `bytes` can be written where an output goes: the file `output` names, else a new
/// file in `folder`; the failure is the one line a command prints.
func checkOutputWritable(_ output: String?, folder: OutputFolder, bytes: Int) throws {
    do {
        if let output {
            try OutputFolder.checkWritable(file: URL(fileURLWithPath: output), bytes: bytes)
        } else {
            try folder.checkWritable(bytes: bytes)
        }
    } catch {
        throw CommandFailure(error.description)
    }
}
