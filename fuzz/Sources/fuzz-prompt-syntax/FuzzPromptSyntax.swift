import Diffusion
import FuzzSupport

// A1111's prompt emphasis syntax: (a:1.2), [a], ((a)), \( escapes, BREAK.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = inputString(data, size)
    _ = try? PromptSyntax.parse(text)
    // A1111's extra-network tags (<lora:NAME:W>), taken out before the syntax above is parsed.
    _ = ExtraNetworkTags(parsing: text)
    return 0
}
