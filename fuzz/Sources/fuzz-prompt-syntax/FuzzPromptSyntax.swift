import Diffusion
import FuzzSupport

// A1111's prompt emphasis syntax: (a:1.2), [a], ((a)), \( escapes, BREAK.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = try? PromptSyntax.parse(inputString(data, size))
    return 0
}
