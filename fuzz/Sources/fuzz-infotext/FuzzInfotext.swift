import Diffusion
import Foundation
import FuzzSupport

// The infotext parser (A1111's `parameters` text: prompt, `Negative prompt:`, field line) and
// the request built from it, as the gallery and `stipple generate --from` do.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let info = Infotext(parsing: inputString(data, size))
    _ = info.size
    _ = info.text
    _ = GenerationRequest.warnings(for: info)
    if skipKnownCrashes && hasKnownCrash(info) { return 0 }
    _ = try? GenerationRequest(infotext: info)
    return 0
}

/// Known and reported, not fixed yet (Pipeline/GenerationRequest+Infotext.swift): `Steps` and
/// `Clip skip` are read as a Double and converted with `Int(_:)`, which traps on nan, inf and
/// values outside Int (`x\nSteps: 1e19, Seed: 1, Size: 8x8`). Such inputs are skipped so the
/// fuzzer can go on past them; FUZZ_KNOWN_CRASHES=1 runs them (to check a fix). Remove once fixed.
private let skipKnownCrashes = ProcessInfo.processInfo.environment["FUZZ_KNOWN_CRASHES"] == nil

private func hasKnownCrash(_ info: Infotext) -> Bool {
    ["Steps", "Clip skip"].contains { key in
        guard let text = info[key], let value = Double(text.trimmingCharacters(in: .whitespaces)) else { return false }
        return !(value > -9.2e18 && value < 9.2e18)
    }
}
