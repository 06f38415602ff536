import FuzzSupport
import Imaging

// The PNG reader: libpng behind the PNGBridge C target (errors caught there by setjmp), the text
// chunks (tEXt, zTXt, iTXt) and the size limits. `PNG.decode` reads bytes; `PNG.readHeader`
// (the gallery's fast listing: size and texts only) reads a path, so it gets a scratch file.
private let scratch = ScratchFile(suffix: ".png")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    if let file = try? PNG.decode(bytes) {
        let image = file.image
        precondition(image.pixels.count == image.width * image.height * (image.hasAlpha ? 4 : 3))
        _ = file.text("parameters")
    }
    // Not for an empty file: Foundation's `Data(contentsOf:)` leaks 4 KiB reading one on Linux (its
    // zero-size path mallocs a chunk that the empty Data never frees; swift 6.3.1), which
    // LeakSanitizer would report here.
    guard size > 0 else { return 0 }
    scratch.write(bytes)
    _ = try? PNG.readHeader(path: scratch.path)
    return 0
}
