import FuzzSupport
import Terminal

// The key decoder (UTF-8, control keys, CSI/SS3 sequences, modifiers, bracketed paste), fed all at
// once and, as reads return them, in pieces (of 1 to 13 bytes, by the input's length). Both must
// give the same keys, then the same flush (as after the input timeout).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(inputBytes(data, size))
    var whole = KeyDecoder()
    let keys = whole.feed(bytes) + whole.flush()

    let piece = bytes.count % 13 + 1
    var split = KeyDecoder()
    var splitKeys: [Key] = []
    var start = 0
    while start < bytes.count {
        splitKeys += split.feed(bytes[start..<min(start + piece, bytes.count)])
        start += piece
    }
    splitKeys += split.flush()
    precondition(keys == splitKeys, "keys differ when the bytes arrive in pieces of \(piece): \(keys) vs \(splitKeys)")
    return 0
}
