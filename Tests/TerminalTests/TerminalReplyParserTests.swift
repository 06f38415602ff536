import Foundation
import Testing
@testable import Terminal

// Expected values read off the captures: `cat -v Tests/TerminalTests/Fixtures/*.reply`.
@Suite("Terminal reply parser")
struct TerminalReplyParserTests {
    // MARK: Real terminals

    @Test("every fixture loads from the test bundle", arguments: Fixture.allCases)
    func fixtureLoads(_ fixture: Fixture) {
        #expect(!fixture.bytes.isEmpty)
        #expect(fixture.bytes.first == 0x1B)
    }

    @Test("xterm -ti vt340: sixel, 1024 registers, no window ops")
    func xtermVT340() {
        let replies = TerminalReplyParser.parse(Fixture.xtermVT340.bytes)
        #expect(replies.deviceAttributes == [63, 1, 2, 4, 6, 9, 15, 16, 22, 28])
        #expect(replies.hasSixel)
        #expect(replies.colorRegisters == .count(1024))
        #expect(replies.cellPixelSize == nil)
        #expect(replies.windowPixelSize == nil)
        #expect(replies.kittyGraphics == nil)
    }

    @Test("xterm -ti vt340 with sixelScrolling false: sixel display mode set (DECRQM ?80 -> 1)")
    func xtermVT340SixelDisplayMode() {
        let replies = TerminalReplyParser.parse(Fixture.xtermVT340SixelDisplayMode.bytes)
        #expect(replies.hasSixel && replies.colorRegisters == .count(1024))
        #expect(replies.sixelDisplayMode == true)
        #expect(TerminalCapabilities(environment: TerminalEnvironment(variables: [:]),
                                     probe: Fixture.xtermVT340SixelDisplayMode.probeResult).sixelDisplayMode)
        // xterm's default answers 2 (reset); 3/4 are the permanent forms; 0 (unknown mode) says nothing.
        #expect(TerminalReplyParser.parse(bytes("␛[?80;2$y")).sixelDisplayMode == false)
        #expect(TerminalReplyParser.parse(bytes("␛[?80;3$y")).sixelDisplayMode == true)
        #expect(TerminalReplyParser.parse(bytes("␛[?80;4$y")).sixelDisplayMode == false)
        #expect(TerminalReplyParser.parse(bytes("␛[?80;0$y")).sixelDisplayMode == nil)
        #expect(TerminalReplyParser.parse(bytes("␛[?2004;1$y")).sixelDisplayMode == nil)
        #expect(Fixture.xtermVT340.probeResult.replies.sixelDisplayMode == nil)
    }

    @Test("xterm -ti vt340 with allowWindowOps: cell and window sizes")
    func xtermVT340WindowOps() {
        let replies = TerminalReplyParser.parse(Fixture.xtermVT340WindowOps.bytes)
        #expect(replies.hasSixel)
        #expect(replies.colorRegisters == .count(1024))
        #expect(replies.cellPixelSize == PixelSize(width: 6, height: 13))
        #expect(replies.windowPixelSize == PixelSize(width: 480, height: 312))
        #expect(replies.kittyGraphics == nil)
    }

    @Test("plain xterm: no sixel, XTSMGRAPHICS fails with status 3")
    func xterm() {
        let replies = TerminalReplyParser.parse(Fixture.xterm.bytes)
        #expect(replies.deviceAttributes == [64, 1, 2, 6, 9, 15, 16, 17, 18, 21, 22, 28])
        #expect(!replies.hasSixel)
        #expect(replies.colorRegisters == .failed(status: 3))
        #expect(replies.kittyGraphics == nil)
    }

    @Test("tmux 3.3: ?1;2c and nothing else")
    func tmux() {
        let replies = TerminalReplyParser.parse(Fixture.tmux33.bytes)
        #expect(replies == TerminalReplies(deviceAttributes: [1, 2]))
        #expect(replies.receivedDeviceAttributes)
        #expect(!replies.hasSixel)
    }

    @Test("mlterm: sixel and every size")
    func mlterm() {
        let replies = TerminalReplyParser.parse(Fixture.mlterm.bytes)
        #expect(replies == TerminalReplies(
            deviceAttributes: [63, 1, 2, 3, 4, 6, 7, 15, 18, 22, 29],
            colorRegisters: .count(1024),
            cellPixelSize: PixelSize(width: 10, height: 22),
            windowPixelSize: PixelSize(width: 800, height: 528)))
        #expect(replies.hasSixel)
    }

    @Test("kitty: graphics OK, DA1 with an empty parameter")
    func kitty() {
        let replies = TerminalReplyParser.parse(Fixture.kitty.bytes)
        #expect(replies == TerminalReplies(
            deviceAttributes: [62],
            cellPixelSize: PixelSize(width: 9, height: 20),
            windowPixelSize: PixelSize(width: 639, height: 400),
            kittyGraphics: .ok))
        #expect(!replies.hasSixel)
    }

    // MARK: Split, reordered, mixed with junk

    @Test("a reply split at any byte parses the same", arguments: Fixture.allCases)
    func splitAnywhere(_ fixture: Fixture) {
        let whole = TerminalReplyParser.parse(fixture.bytes)
        for cut in 0...fixture.bytes.count {
            var parser = TerminalReplyParser()
            parser.consume(fixture.bytes[..<cut])
            parser.consume(fixture.bytes[cut...])
            #expect(parser.replies == whole, "cut at \(cut)")
        }
        var byteByByte = TerminalReplyParser()
        for byte in fixture.bytes { byteByByte.consume([byte]) }
        #expect(byteByByte.replies == whole)
    }

    @Test("replies in any order")
    func anyOrder() {
        let pieces = ["␛[?63;1;4c", "␛_Gi=31;OK␛\\", "␛[4;400;639t", "␛[6;20;9t", "␛[?1;0;256S"]
        let expected = TerminalReplies(
            deviceAttributes: [63, 1, 4], colorRegisters: .count(256),
            cellPixelSize: PixelSize(width: 9, height: 20),
            windowPixelSize: PixelSize(width: 639, height: 400), kittyGraphics: .ok)
        #expect(TerminalReplyParser.parse(bytes(pieces.joined())) == expected)
        #expect(TerminalReplyParser.parse(bytes(pieces.reversed().joined())) == expected)
    }

    @Test("keystrokes, other replies and strings are skipped")
    func junkInterleaved() {
        let junk = [
            "hello\r",                              // typed ahead
            "␛[A", "␛OB", "␛[1;5C",                 // arrow keys
            "␛[>41;379;0c",                         // DA2, not DA1
            "␛[8;24;80t",                           // text area in cells
            "␛[?2;0;1000;1000S",                    // XTSMGRAPHICS sixel geometry, not registers
            "␛]11;rgb:0000/0000/0000␛\\",           // OSC colour reply, ST-terminated
            "␛]10;rgb:ffff/ffff/ffff\u{07}",        // OSC colour reply, BEL-terminated
            "␛P1$r0m␛\\",                           // DCS (DECRQSS) reply
            "␛P[?1;4c;6;9;12t␛\\",                  // a DCS whose text looks like replies
            "␛_Gi=7;OK␛\\",                         // kitty reply for another image
            "␛(B", "␛[I", "ä€",                     // charset, focus in, UTF-8 keystrokes
        ]
        let real = ["␛[?1;0;256S", "␛[6;13;6t", "␛_Gi=31;OK␛\\", "␛[?62;4c"]
        var mixed = ""
        for (index, piece) in junk.enumerated() {
            mixed += piece
            if index % 3 == 2, index / 3 < real.count { mixed += real[index / 3] }
        }
        // A lone 0x9B (8-bit CSI) is not taken as a sequence.
        let replies = TerminalReplyParser.parse(bytes(mixed) + [0x9B] + bytes("?1;4c"))
        #expect(replies == TerminalReplies(
            deviceAttributes: [62, 4], colorRegisters: .count(256),
            cellPixelSize: PixelSize(width: 6, height: 13), kittyGraphics: .ok))
    }

    @Test("an escape cut short starts the next sequence; CAN aborts")
    func interruptedSequences() {
        #expect(TerminalReplyParser.parse(bytes("␛[?63;1␛[?62;4c")).deviceAttributes == [62, 4])
        #expect(TerminalReplyParser.parse(bytes("␛]11;rgb␛[?62;4c")).deviceAttributes == [62, 4])
        #expect(TerminalReplyParser.parse(bytes("␛[?62;4\u{18}c")).deviceAttributes == nil)
        #expect(TerminalReplyParser.parse(bytes("␛␛␛[?62c")).deviceAttributes == [62])
    }

    @Test("an overlong sequence is dropped and parsing goes on")
    func overlong() {
        let long = "␛[?" + String(repeating: "1;", count: 100) + "4c"
        #expect(TerminalReplyParser.parse(bytes(long)).deviceAttributes == nil)
        #expect(TerminalReplyParser.parse(bytes(long + "␛[?62c")).deviceAttributes == [62])
        #expect(TerminalReplyParser.parse(bytes("␛[6;99999999999;4t")).cellPixelSize == nil)
    }

    @Test("a DECRPM-like reply with other bytes than digits is ignored (found by fuzzing: it trapped)")
    func nonDigitParameters() {
        // ␛[?80+1$y: '+' is an intermediate byte, and '+' - '0' overflowed UInt8.
        #expect(TerminalReplyParser.parse(bytes("␛[?80+1$y")).sixelDisplayMode == nil)
        #expect(TerminalReplyParser.parse(bytes("␛[? $y")).sixelDisplayMode == nil)
        #expect(TerminalReplyParser.parse(bytes("␛[?80;1 $y")).sixelDisplayMode == nil)
        #expect(TerminalReplyParser.parse(bytes("␛[?80;:1$y")).sixelDisplayMode == nil)  // not 10 + 1
        #expect(TerminalReplyParser.parse(bytes("␛[?80+1$y␛[?80;1$y␛[?62;4c")) ==
            TerminalReplies(deviceAttributes: [62, 4], sixelDisplayMode: true))
    }

    // MARK: Missing and failed replies

    @Test("no DA1: the sentinel never came (the probe would time out)")
    func noDeviceAttributes() {
        let replies = TerminalReplyParser.parse(bytes("␛[?1;0;1024S␛[6;13;6t"))
        #expect(!replies.receivedDeviceAttributes)
        #expect(replies.colorRegisters == .count(1024))
        #expect(TerminalReplyParser.parse([]) == TerminalReplies())
    }

    @Test("a fixture cut before its last byte has no DA1", arguments: Fixture.allCases)
    func truncated(_ fixture: Fixture) {
        let replies = TerminalReplyParser.parse(fixture.bytes.dropLast())
        #expect(!replies.receivedDeviceAttributes)
    }

    @Test("XTSMGRAPHICS failure statuses", arguments: [1, 2, 3])
    func colorRegisterFailure(_ status: Int) {
        let replies = TerminalReplyParser.parse(bytes("␛[?1;\(status);0S"))
        #expect(replies.colorRegisters == .failed(status: status))
        #expect(TerminalReplyParser.parse(bytes("␛[?1;\(status)S")).colorRegisters
            == .failed(status: status))
    }

    @Test("kitty error text is kept")
    func kittyError() {
        let replies = TerminalReplyParser.parse(
            bytes("␛_Gi=31;ENOTSUPPORTED:unsupported transmission␛\\"))
        #expect(replies.kittyGraphics == .error("ENOTSUPPORTED:unsupported transmission"))
    }

    @Test("DA1's first parameter is the class, not an attribute")
    func deviceClassIsNotSixel() {
        #expect(!TerminalReplyParser.parse(bytes("␛[?4;6c")).hasSixel)  // a VT132
        #expect(TerminalReplyParser.parse(bytes("␛[?65;4c")).hasSixel)
    }
}
