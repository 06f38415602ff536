import FuzzSupport
import Imaging

// The image-container reader: JPEG segments and WebP chunks walked by their lengths, EXIF/TIFF
// (IFD offsets, counts, types, UserComment charsets), PNG eXIf/comf chunks and the stealth-text
// reader (a text-less PNG's first rows decoded, bits read column by column, gzip inflated with a
// bound, NovelAI's JSON). `ImageTexts.read` takes a path, so each input goes to a scratch file;
// the seeds (tools/fuzz.sh) are every container fixture, so the fuzzer starts inside each format.
private let scratch = ScratchFile(suffix: ".img")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // Not for an empty file (Foundation's zero-size read leaks 4 KiB on Linux; see fuzz-png).
    guard size > 0 else { return 0 }
    scratch.write(inputBytes(data, size))
    if let file = try? ImageTexts.read(path: scratch.path) {
        precondition(file.texts.count == file.where.count)
        precondition(file.width > 0 && file.height > 0)
        for text in file.texts { precondition(text.value.utf8.count <= 4 * ImageTexts.maxTextBytes) }
    }
    return 0
}
