import Diffusion
import FuzzSupport

// The safetensors header: length prefix, JSON, entry checks (offsets, overlaps, dtype × shape
// against byte counts). `SafetensorsFile` opens and maps a path, so each input becomes the
// contents of a scratch file; opening parses and checks the whole header. When that succeeds,
// every tensor is loaded too (the checks promise that loading stays inside the mapping), and the
// header is read as a single-file checkpoint's layout.
private let scratch = ScratchFile(suffix: ".safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    scratch.write(inputBytes(data, size))
    guard let file = try? SafetensorsFile(path: scratch.path) else { return 0 }
    // A single-file checkpoint's layout (family, configs inferred from the names and shapes, the
    // name maps of SD 1.x / 2.x / XL) is read from the header alone.
    if let checkpoint = try? SingleFileCheckpoint(path: scratch.path) {
        _ = checkpoint.unusedTensorNames
    }
    _ = file.metadata
    // As a LoRA file: format, modules (names, shapes, alphas, PEFT metadata).
    if let lora = try? LoRAFile(path: scratch.path) {
        _ = lora.moduleCount
    }
    for name in file.tensorNames {
        guard let info = file.info(name) else { fatalError("listed tensor \(name) has no info") }
        // Loading converts every element: skip the (legitimately) huge ones.
        if info.elementCount <= 1 << 16 { _ = try? file.tensor(name) }
    }
    return 0
}
