import Diffusion
import Foundation
import FuzzSupport

// The CLIP tokenizer: pre-tokenization, byte-level BPE and A1111's chunking of long prompts,
// with the bundled SD vocabulary (merges only) and with a model folder's own files
// (samples/shapes-64/tokenizer: vocab.json, merges.txt, special tokens; or $STIPPLE_FUZZ_TOKENIZER).
private let bundled: CLIPTokenizer = {
    do { return try CLIPTokenizer.bundled() } catch { fatalError("bundled tokenizer: \(error)") }
}()

private let folder: CLIPTokenizer = {
    let path = ProcessInfo.processInfo.environment["STIPPLE_FUZZ_TOKENIZER"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // fuzz/Sources/fuzz-tokenizer
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("samples/shapes-64/tokenizer").path
    do { return try CLIPTokenizer(folder: path) } catch { fatalError("tokenizer folder: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = inputString(data, size)
    for tokenizer in [bundled, folder] {
        let ids = tokenizer.encode(text)
        for id in ids { precondition(tokenizer.token(id) != nil, "id \(id) is outside the vocabulary") }
        _ = tokenizer.window(ids, pad: .endOfText)
        if let chunks = try? tokenizer.chunks(of: text) {
            for chunk in chunks {
                precondition(chunk.tokens.count <= CLIPTokenizer.tokensPerWindow && chunk.tokens.count == chunk.weights.count)
            }
        }
    }
    return 0
}
