import FuzzSupport
import Terminal

// The parser of what a terminal answers the start-up probe (DA1, XTSMGRAPHICS, XTWINOPS, kitty
// graphics, DECRQM), fed all at once and, as bytes arrive from a terminal, in pieces (of 1 to 13
// bytes, by the input's length). Both must give the same replies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(inputBytes(data, size))
    let whole = TerminalReplyParser.parse(bytes)
    _ = (whole.hasSixel, whole.receivedDeviceAttributes)
    let piece = bytes.count % 13 + 1
    var parser = TerminalReplyParser()
    var start = 0
    while start < bytes.count {
        parser.consume(bytes[start..<min(start + piece, bytes.count)])
        start += piece
    }
    precondition(parser.replies == whole, "replies differ when the bytes arrive in pieces of \(piece)")
    return 0
}
