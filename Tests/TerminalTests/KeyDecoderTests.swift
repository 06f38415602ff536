import Testing
@testable import Terminal

/// Bytes as xterm, tmux and kitty send them -> keys.
@Suite struct KeyDecoderTests {
    static func keys(_ text: String) -> [Key] {
        var decoder = KeyDecoder()
        return decoder.feed(Array(text.utf8)) + decoder.flush()
    }

    @Test func textAndControlCharacters() {
        #expect(Self.keys("a é🦊") == [.character("a"), .character(" "), .character("é"), .character("🦊")])
        #expect(Self.keys("\r\t\u{7F}\u{08}") == [.enter, .tab, .backspace, .backspace])
        #expect(Self.keys("\u{13}\u{11}\u{17}") == [.ctrl("s"), .ctrl("q"), .ctrl("w")])
    }

    @Test func cursorAndFunctionKeys() {
        #expect(Self.keys("\u{1B}[A\u{1B}[B\u{1B}[C\u{1B}[D") == [.up, .down, .right, .left])
        #expect(Self.keys("\u{1B}OA\u{1B}OD\u{1B}OH\u{1B}OF") == [.up, .left, .home, .end])
        #expect(Self.keys("\u{1B}[1;5C\u{1B}[1;5D\u{1B}[1;3D") == [.wordRight, .wordLeft, .wordLeft])
        #expect(Self.keys("\u{1B}[3~\u{1B}[5~\u{1B}[6~\u{1B}[1~\u{1B}[4~\u{1B}[H\u{1B}[F")
                == [.delete, .pageUp, .pageDown, .home, .end, .home, .end])
        #expect(Self.keys("\u{1B}OP\u{1B}[11~\u{1B}[15~\u{1B}[17~\u{1B}[24~")
                == [.function(1), .function(1), .function(5), .function(6), .function(12)])
        #expect(Self.keys("\u{1B}[Z") == [.backTab])
        #expect(Self.keys("\u{1B}[2~\u{1B}[99x") == [])
    }

    @Test func escapeAltAndNewline() {
        #expect(Self.keys("\u{1B}") == [.escape])
        #expect(Self.keys("\u{1B}\u{1B}") == [.escape, .escape])
        #expect(Self.keys("\u{1B}x") == [.alt("x")])
        #expect(Self.keys("\u{1B}\r") == [.newline])
        #expect(Self.keys("\u{1B}[13;2u\u{1B}[13u\u{1B}[27u") == [.newline, .enter, .escape])
        #expect(Self.keys("\u{1B}\u{13}") == [.escape, .ctrl("s")])
    }

    @Test func aLoneEscapeWaitsForMoreBytesOrAFlush() {
        var decoder = KeyDecoder()
        #expect(decoder.feed([0x1B]).isEmpty && decoder.isPending)
        #expect(decoder.feed(Array("[A".utf8)) == [.up])
        #expect(!decoder.isPending)
        #expect(decoder.feed([0x1B]).isEmpty)
        #expect(decoder.flush() == [.escape])
        // A character split across reads.
        let fox = Array("🦊".utf8)
        #expect(decoder.feed(fox[0..<2]).isEmpty)
        #expect(decoder.feed(fox[2...]) == [.character("🦊")])
    }

    @Test func bracketedPasteArrivesWhole() {
        var decoder = KeyDecoder()
        let paste = "\u{1B}[200~a long prompt,\nwith (emphasis:1.2)\u{1B}[201~x"
        let bytes = Array(paste.utf8)
        var keys: [Key] = []
        for chunk in stride(from: 0, to: bytes.count, by: 5) {
            keys += decoder.feed(bytes[chunk..<min(chunk + 5, bytes.count)])
        }
        #expect(keys == [.paste("a long prompt,\nwith (emphasis:1.2)"), .character("x")])
    }
}
