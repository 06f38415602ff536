import Foundation
import Testing
@testable import Diffusion

/// Expected ids: transformers 5.24's CLIPTokenizer, written by
///     .venv-ref/bin/python tools/make_tokenizer_fixtures.py /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz \
///         Tests/DiffusionTests/Fixtures/tokenizer
enum TokenizerFixtures {
    struct Corpus: Decodable {
        let vocab_size: Int
        let bos: Int
        let eos: Int
        let entries: [Entry]
    }

    struct Entry: Decodable {
        let text: String
        let ids: [Int]
        let window: [Int]
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The merges file in the source tree (until the Diffusion target declares it as a resource).
    static let mergesFile = repositoryRoot.appendingPathComponent("Sources/Diffusion/Tokenizer/Resources")
        .appendingPathComponent(CLIPTokenizer.mergesFileName)

    static let loaded = Result { try CLIPTokenizer(contentsOf: mergesFile) }

    static func tokenizer() throws -> CLIPTokenizer { try loaded.get() }

    static func corpus() throws -> Corpus {
        let url = repositoryRoot.appendingPathComponent("Tests/DiffusionTests/Fixtures/tokenizer/corpus.json")
        return try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: url))
    }
}

@Suite struct CLIPTokenizerTests {
    @Test func vocabularyMatchesOpenAI() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let corpus = try TokenizerFixtures.corpus()
        #expect(tokenizer.vocabularySize == 49_408)
        #expect(tokenizer.vocabularySize == corpus.vocab_size)
        #expect(tokenizer.bos == 49_406 && tokenizer.bos == corpus.bos)
        #expect(tokenizer.eos == 49_407 && tokenizer.eos == corpus.eos)
        #expect(tokenizer.token(49_406) == "<|startoftext|>")
        #expect(tokenizer.token(49_407) == "<|endoftext|>")
        #expect(tokenizer.token(0) == "!")
        #expect(tokenizer.token(188) == "Ā")  // byte 0x00
        #expect(tokenizer.token(256) == "!</w>")
        #expect(tokenizer.token(320) == "a</w>")
        #expect(tokenizer.token(512) == "in")  // the first merge, "i n"
        #expect(tokenizer.token(49_405) == "jekyll</w>")  // the last merge used, "jeky ll</w>"
        #expect(tokenizer.token(49_408) == nil)
    }

    @Test func corpusMatchesTransformers() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let corpus = try TokenizerFixtures.corpus()
        #expect(corpus.entries.count == 100)
        for entry in corpus.entries {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
            #expect(tokenizer.window(tokenizer.encode(entry.text), pad: .endOfText) == entry.window,
                    "\(entry.text.debugDescription)")
        }
    }

    @Test func windowsPadForBothModelFamilies() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        let ids = tokenizer.encode("a photograph of an astronaut riding a horse")
        #expect(ids == [320, 8853, 539, 550, 18376, 6765, 320, 4558])

        let sd1 = tokenizer.window(ids, pad: .endOfText)
        #expect(sd1.count == 77)
        #expect(Array(sd1.prefix(10)) == [49_406] + ids + [49_407])
        #expect(sd1.dropFirst(10).allSatisfy { $0 == 49_407 })

        let sd2 = tokenizer.window(ids, pad: .exclamationMark)
        #expect(Array(sd2.prefix(10)) == Array(sd1.prefix(10)))
        #expect(sd2.dropFirst(10).allSatisfy { $0 == 0 })
        #expect(tokenizer.window(ids, padWith: 0) == sd2)

        #expect(tokenizer.window([], padWith: 0) == [49_406, 49_407] + Array(repeating: 0, count: 75))
        let exact = Array(repeating: 320, count: 75)
        #expect(tokenizer.window(exact, padWith: 0) == [49_406] + exact + [49_407])
        let long = Array(0..<200)
        #expect(tokenizer.window(long, padWith: 0) == [49_406] + Array(0..<75) + [49_407])
    }

    @Test func specialTokensSplitOnlyWhenWrittenExactly() throws {
        let tokenizer = try TokenizerFixtures.tokenizer()
        #expect(tokenizer.encode("a<|endoftext|>b") == [320, 49_407, 321])
        #expect(tokenizer.encode("<|startoftext|>") == [49_406])
        #expect(!tokenizer.encode("<|EndOfText|>").contains(49_407))
    }

    @Test func bundledFindsTheMergesFile() throws {
        let tokenizer = try CLIPTokenizer.bundled()
        #expect(tokenizer.vocabularySize == 49_408)
        #expect(tokenizer.encode("hello world") == [3306, 1002])
    }

    @Test func malformedMergesAreReported() {
        #expect(throws: CLIPTokenizer.LoadingError.tooFewMerges(found: 1, needed: 48_894)) {
            try CLIPTokenizer(mergesText: "#version: 0.2\ni n\n")
        }
        #expect(throws: CLIPTokenizer.LoadingError.malformedMerge(line: 2, text: "i n x")) {
            try CLIPTokenizer(mergesText: "#version: 0.2\ni n x\n")
        }
        #expect(throws: CLIPTokenizer.LoadingError.malformedMerge(line: 1, text: "zz q")) {
            try CLIPTokenizer(mergesText: "zz q\n")
        }
    }

    /// The word cache must not change results: a long prompt encodes the same on every call, and
    /// the same as a fresh tokenizer with an empty cache. (Speed is measured, not asserted: about
    /// 0.09 ms per 300-word prompt in release on the 2-core machine.)
    @Test func cachedPromptsEncodeTheSame() throws {
        let words = "portrait of a knight in ornate armor standing in a misty forest at dawn, volumetric light,"
            .split(separator: " ")
        let prompt = (0..<300).map { String(words[$0 % words.count]) + ($0 % 7 == 0 ? "\($0)" : "") }
            .joined(separator: " ")
        let tokenizer = try TokenizerFixtures.tokenizer()
        let first = tokenizer.encode(prompt)
        for _ in 0..<5 { #expect(tokenizer.encode(prompt) == first) }
        #expect(try CLIPTokenizer.bundled().encode(prompt) == first)  // a new tokenizer, empty cache
    }
}
