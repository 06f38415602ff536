import FuzzSupport
import Imaging

// The JPEG decoder: libjpeg-turbo behind the JPEGBridge C target (errors caught there by setjmp,
// scan-data warnings turned into errors, the size limits and the bits-per-block check from the
// header), and `ImageFile`'s choice between PNG and JPEG by the first bytes. The input is also
// decoded under a small pixel limit, as a server's preview would be.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    if let image = try? JPEG.decode(bytes) {
        precondition(image.pixels.count == image.width * image.height * 3 && !image.hasAlpha)
        let small = try? JPEG.decode(bytes, maxSide: 256, maxPixels: 256 * 256)
        precondition(small == nil || small == image)
    }
    if let image = try? ImageFile.decode(bytes) {
        precondition(image.pixels.count == image.width * image.height * image.channels)
    }
    return 0
}
