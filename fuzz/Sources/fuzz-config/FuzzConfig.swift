import FuzzSupport
import Studio

// config.toml as the studio reads it: `StudioConfig(text:)`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let config = StudioConfig(text: inputString(data, size))
    _ = (config.model, config.outputDirectory, config.theme)
    return 0
}
