import Diffusion
import FuzzSupport

// The infotext parser (A1111's `parameters` text: prompt, `Negative prompt:`, field line) and
// the request built from it, as the gallery and `stipple generate --from` do.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let info = Infotext(parsing: inputString(data, size))
    _ = info.size
    _ = info.text
    _ = GenerationRequest.warnings(for: info)
    _ = try? GenerationRequest(infotext: info)
    return 0
}
