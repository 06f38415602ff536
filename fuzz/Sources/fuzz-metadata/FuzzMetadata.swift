import Diffusion
import Foundation
import FuzzSupport

// Other generators' image metadata (issue 17): the input's first byte picks the text chunk's
// keyword (ComfyUI's graph, InvokeAI's three, NovelAI's Comment, SwarmUI's or Fooocus's JSON
// `parameters`, stable-diffusion.cpp's text), the rest is its text; every generation found is
// then made a request, as `generate --from` and the gallery do.
let keys = ["prompt", "parameters", "invokeai_metadata", "sd-metadata", "Dream", "Comment", "workflow"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let key = keys[Int(data[0]) % keys.count]
    let text = inputString(data + 1, size - 1)
    var texts: [(key: String, value: String)] = [(key, text)]
    if key == "Comment" { texts.append(("Software", "NovelAI")) }
    if data[0] & 0x80 != 0 { texts.append(("fooocus_scheme", data[0] & 0x40 != 0 ? "fooocus" : "a1111")) }
    guard let metadata = try? ImageMetadata.read(texts: texts) else { return 0 }
    for generation in metadata.generations {
        _ = GenerationRequest.warnings(for: generation.infotext)
        _ = try? GenerationRequest(infotext: generation.infotext)
        _ = generation.infotext.text
    }
    return 0
}
