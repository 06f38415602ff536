import FuzzSupport
import Studio

// config.toml as the studio reads it: `StudioConfig(text:)` (TOMLKit), its settings and warnings;
// a syntax error is an answer too, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        let config = try StudioConfig(text: inputString(data, size))
        _ = (config.model, config.outputDirectory, config.theme, config.warnings)
    } catch {
        _ = error.description
    }
    return 0
}
