import Testing
@testable import Diffusion

/// A1111's emphasis syntax. Expected pieces: the doctest of `parse_prompt_attention` in A1111's
/// modules/prompt_parser.py, the cheat sheet of its wiki page "Features" (Attention/emphasis),
/// and the edge cases its regex and bracket stacks imply.
@Suite struct PromptSyntaxTests {
    typealias Piece = PromptSyntax.Piece

    static func text(_ text: String, _ weight: Double) -> Piece { .text(text, weight: weight) }

    @Test func docstringExamples() throws {
        #expect(try PromptSyntax.parse("normal text") == [Self.text("normal text", 1)])
        #expect(try PromptSyntax.parse("an (important) word") == [Self.text("an ", 1), Self.text("important", 1.1), Self.text(" word", 1)])
        #expect(try PromptSyntax.parse("(unbalanced") == [Self.text("unbalanced", 1.1)])
        #expect(try PromptSyntax.parse(#"\(literal\]"#) == [Self.text("(literal]", 1)])
        #expect(try PromptSyntax.parse("(unnecessary)(parens)") == [Self.text("unnecessaryparens", 1.1)])
        // Python's own figures, digit for digit.
        #expect(try PromptSyntax.parse("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).") == [
            Self.text("a ", 1.0), Self.text("house", 1.5730000000000004), Self.text(" ", 1.1), Self.text("on", 1.0),
            Self.text(" a ", 1.1), Self.text("hill", 0.55), Self.text(", sun, ", 1.1), Self.text("sky", 1.4641000000000006),
            Self.text(".", 1.1),
        ])
    }

    @Test func wikiCheatSheet() throws {
        #expect(try PromptSyntax.parse("a (word)") == [Self.text("a ", 1), Self.text("word", 1.1)])
        #expect(try PromptSyntax.parse("a ((word))") == [Self.text("a ", 1), Self.text("word", 1.1 * 1.1)])
        #expect(try PromptSyntax.parse("a [word]") == [Self.text("a ", 1), Self.text("word", 1 / 1.1)])
        #expect(try PromptSyntax.parse("a (word:1.5)") == [Self.text("a ", 1), Self.text("word", 1.5)])
        #expect(try PromptSyntax.parse("a (word:0.25)") == [Self.text("a ", 1), Self.text("word", 0.25)])
        #expect(try PromptSyntax.parse(#"a \(word\)"#) == [Self.text("a (word)", 1)])
        #expect(try PromptSyntax.parse(#"anime_\(character\)"#) == [Self.text("anime_(character)", 1)])
        // "Specifying weight only works with () not with []": the number stays text. (A1111, and the
        // pipeline, read `[word:1.5]` as prompt editing first: PromptSchedule; this is the emphasis alone.)
        #expect(try PromptSyntax.parse("[word:1.5]") == [Self.text("word:1.5", 1 / 1.1)])
    }

    @Test func weights() throws {
        #expect(try PromptSyntax.parse("(a: 1.5 )") == [Self.text("a", 1.5)])
        #expect(try PromptSyntax.parse("(a:-1)") == [Self.text("a", -1)])
        #expect(try PromptSyntax.parse("(a:+.5)") == [Self.text("a", 0.5)])
        #expect(try PromptSyntax.parse("(a:2.)") == [Self.text("a", 2)])
        #expect(try PromptSyntax.parse("(a:０.７)") == [Self.text("a", 0.7)])  // Python's \d and float() take any decimal digit
        #expect(try PromptSyntax.parse("((a:1.2):1.5)") == [Self.text("a", 1.0 * 1.2 * 1.5)])
        #expect(try PromptSyntax.parse("(a:1.2x)") == [Self.text("a:1.2x", 1.1)])  // not a weight: text, then ")" closes
        #expect(throws: PromptSyntaxError(weight: ":1.2.3)")) { try PromptSyntax.parse("(a:1.2.3)") }
        #expect(throws: PromptSyntaxError(weight: ": . )")) { try PromptSyntax.parse("(a: . )") }
        #expect(try PromptSyntax.parse("a:1.2.3)") == [Self.text("a:1.2.3)", 1)])  // no "(" open: plain text, as in A1111
    }

    @Test func unbalancedAndMixedBrackets() throws {
        #expect(try PromptSyntax.parse("a) b] c") == [Self.text("a) b] c", 1)])
        #expect(try PromptSyntax.parse("[a:1.2)") == [Self.text("a:1.2)", 1 / 1.1)])
        #expect(try PromptSyntax.parse("((a") == [Self.text("a", 1.0 * 1.1 * 1.1)])
        #expect(try PromptSyntax.parse("[(a") == [Self.text("a", 1.0 * 1.1 * (1 / 1.1))])  // "(" first, then "["
        #expect(try PromptSyntax.parse("([a)]") == [Self.text("a", 1.0 * 1.1 * (1 / 1.1))])  // separate stacks
        #expect(try PromptSyntax.parse("(a [b) c]") == [Self.text("a ", 1.1), Self.text("b", 1.1 * (1 / 1.1)), Self.text(" c", 1 / 1.1)])
        #expect(try PromptSyntax.parse("()") == [Self.text("", 1)])
        #expect(try PromptSyntax.parse("") == [Self.text("", 1)])
    }

    @Test func escapes() throws {
        #expect(try PromptSyntax.parse(#"a\\b"#) == [Self.text(#"a\b"#, 1)])
        #expect(try PromptSyntax.parse(#"a\b"#) == [Self.text("ab", 1)])  // a lone backslash is dropped
        #expect(try PromptSyntax.parse(#"(\))"#) == [Self.text(")", 1.1)])
        #expect(try PromptSyntax.parse(#"\[x\]:y"#) == [Self.text("[x]:y", 1)])
    }

    @Test func breakKeyword() throws {
        #expect(try PromptSyntax.parse("a BREAK b") == [Self.text("a", 1), .chunkBreak, Self.text("b", 1)])
        #expect(try PromptSyntax.parse("a\n BREAK\tb") == [Self.text("a", 1), .chunkBreak, Self.text("b", 1)])
        #expect(try PromptSyntax.parse("BREAK") == [Self.text("", 1), .chunkBreak, Self.text("", 1)])
        #expect(try PromptSyntax.parse("a,BREAK,b") == [Self.text("a,", 1), .chunkBreak, Self.text(",b", 1)])
        #expect(try PromptSyntax.parse("(a BREAK b)") == [Self.text("a", 1.1), .chunkBreak, Self.text("b", 1.1)])
        #expect(try PromptSyntax.parse("a BREAK BREAK b") == [Self.text("a", 1), .chunkBreak, Self.text("", 1), .chunkBreak, Self.text("b", 1)])
        for notKeyword in ["break", "aBREAK b", "BREAKfast", "BREAK_x", "x_BREAK", "BREAK2", "BREAKBREAK", "Break"] {
            #expect(try PromptSyntax.parse(notKeyword) == [Self.text(notKeyword, 1)], "\(notKeyword)")
        }
    }
}

/// A1111's long-prompt chunking, with the real CLIP vocabulary ("a" is one token, 320; "," is 267).
@Suite struct PromptChunkingTests {
    static func repeated(_ word: String, _ count: Int) -> String { Array(repeating: word, count: count).joined(separator: " ") }

    @Test func chunksHold75Tokens() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        #expect(try tokenizer.chunks(of: "").map(\.tokens) == [[]])
        #expect(try tokenizer.chunks(of: Self.repeated("a", 75)).map(\.tokens.count) == [75])
        #expect(try tokenizer.chunks(of: Self.repeated("a", 76)).map(\.tokens.count) == [75, 1])
        #expect(try tokenizer.chunks(of: Self.repeated("a", 150)).map(\.tokens.count) == [75, 75])
        #expect(try tokenizer.chunks(of: Self.repeated("a", 151)).map(\.tokens.count) == [75, 75, 1])
        let chunk = try #require(try tokenizer.chunks(of: "a photograph of an astronaut").first)
        #expect(chunk.tokens == tokenizer.encode("a photograph of an astronaut") && chunk.weights == [1, 1, 1, 1, 1])
    }

    /// A full chunk whose last comma is among its last 20 tokens ends after that comma; the tokens
    /// after it open the next chunk.
    @Test func commaBacktrack() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        func prompt(commaAfter words: Int, total: Int) -> String {
            Self.repeated("a", words) + ", " + Self.repeated("a", total - words - 1)
        }
        // Comma at index 60 of the full chunk: 75 - 60 = 15 <= 20, so 61 tokens stay.
        let moved = try tokenizer.chunks(of: prompt(commaAfter: 60, total: 81))
        #expect(moved.map(\.tokens.count) == [61, 20])
        #expect(moved[0].tokens.last == 267 && moved[1].tokens.allSatisfy { $0 == 320 })
        #expect(try tokenizer.chunks(of: prompt(commaAfter: 55, total: 81)).map(\.tokens.count) == [56, 25])  // 75 - 55 = 20
        #expect(try tokenizer.chunks(of: prompt(commaAfter: 54, total: 81)).map(\.tokens.count) == [75, 6])  // 21: too far
        #expect(try tokenizer.chunks(of: prompt(commaAfter: 60, total: 81), commaBacktrack: 0).map(\.tokens.count) == [75, 6])
        #expect(try tokenizer.chunks(of: prompt(commaAfter: 60, total: 75)).map(\.tokens.count) == [75])  // not full past 75
        // A comma arriving when the chunk is full opens the next chunk.
        let comma = try tokenizer.chunks(of: Self.repeated("a", 75) + ", a")
        #expect(comma.map(\.tokens) == [Array(repeating: 320, count: 75), [267, 320]])
        // The weights travel with the moved tokens.
        let weighted = try tokenizer.chunks(of: Self.repeated("a", 70) + ", (b c d e f g:1.5)")
        #expect(weighted.map(\.tokens.count) == [71, 6] && weighted[1].weights == Array(repeating: 1.5, count: 6))
    }

    @Test func breakStartsNewChunks() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let a = tokenizer.encode("a cat"), b = tokenizer.encode("a dog")
        #expect(try tokenizer.chunks(of: "a cat BREAK a dog").map(\.tokens) == [a, b])
        #expect(try tokenizer.chunks(of: "a cat BREAK").map(\.tokens) == [a])
        #expect(try tokenizer.chunks(of: "BREAK a cat").map(\.tokens) == [[], a])  // A1111 ends the empty first chunk
        #expect(try tokenizer.chunks(of: "a cat BREAK BREAK a dog").map(\.tokens) == [a, [], b])
        #expect(try tokenizer.chunks(of: Self.repeated("a", 80) + " BREAK b").map(\.tokens.count) == [75, 5, 1])
    }

    /// Each text is tokenized on its own, after equal weights are joined.
    @Test func textsAreTokenizedSeparately() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let joined = try tokenizer.chunks(of: "(unnecessary)(parens)")
        #expect(joined == [PromptChunk(tokens: tokenizer.encode("unnecessaryparens"),
                                       weights: Array(repeating: Float(1.1), count: tokenizer.encode("unnecessaryparens").count))])
        let split = try tokenizer.chunks(of: "photo(graph:1.2)")
        #expect(split[0].tokens == tokenizer.encode("photo") + tokenizer.encode("graph"))
        #expect(split[0].tokens != tokenizer.encode("photograph"))
        #expect(split[0].weights == [1] + Array(repeating: Float(1.2), count: tokenizer.encode("graph").count))
    }
}
