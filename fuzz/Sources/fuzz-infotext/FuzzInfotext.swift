import Diffusion
import Foundation
import FuzzSupport

// The infotext parser (A1111's `parameters` text: prompt, `Negative prompt:`, field line) and
// the request built from it, as the gallery and `stipple generate --from` do. (The Int(Double)
// traps this target found in `GenerationRequest(infotext:)` — `Steps: 1e19`, `Steps: nan`,
// `Clip skip: -inf` — are fixed: numbers go through GenerationLimits' rules.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = inputString(data, size)
    let info = Infotext(parsing: text)
    _ = try? Infotext.read(text)
    _ = info.size
    _ = info.text
    _ = GenerationRequest.warnings(for: info)
    _ = try? GenerationRequest(infotext: info)
    return 0
}
