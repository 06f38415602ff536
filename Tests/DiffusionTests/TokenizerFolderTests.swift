import Foundation
import Testing
@testable import Diffusion

/// Fixtures: transformers 5.24's CLIPTokenizer on tiny tokenizer folders (the real CLIP vocabulary
/// cut to 486 merges, 1,000 tokens), written by
///     .venv-ref/bin/python tools/make_prompt_fixtures.py Tests/DiffusionTests/Fixtures/prompts
enum PromptFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/prompts")

    struct Corpus: Decodable {
        struct Entry: Decodable {
            let ids: [Int]
            let window: [Int]
        }

        let texts: [String]
        let entries: [String: [Entry]]

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            texts = try container.decode([String].self, forKey: AnyKey("texts"))
            var entries: [String: [Entry]] = [:]
            for folder in TokenizerFolderTests.folders {
                entries[folder] = try container.decode([Entry].self, forKey: AnyKey(folder))
            }
            self.entries = entries
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func corpus() throws -> Corpus {
        try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: root.appendingPathComponent("corpus.json")))
    }

    static func tokenizer(_ folder: String) throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: root.appendingPathComponent(folder).appendingPathComponent("tokenizer").path)
    }
}

@Suite struct TokenizerFolderTests {
    /// sd1, sd2: the files of SD1.5 / SD2 downloads; sd2-saved: transformers 5's tokenizer.json.
    static let folders = ["sd1", "sd2", "sd2-saved"]

    @Test(arguments: folders)
    func folderTokenizerMatchesTransformers(folder: String) throws {
        let tokenizer = try PromptFixtures.tokenizer(folder)
        #expect(tokenizer.vocabularySize == 1000)
        #expect(tokenizer.bos == 998 && tokenizer.eos == 999)
        #expect(tokenizer.pad == (folder == "sd1" ? 999 : 0))
        let corpus = try PromptFixtures.corpus()
        let entries = try #require(corpus.entries[folder])
        #expect(corpus.texts.count == entries.count && entries.count > 80)
        for (text, entry) in zip(corpus.texts, entries) {
            let ids = tokenizer.encode(text)
            #expect(ids == entry.ids, "\(folder): \(text.debugDescription)")
            #expect(tokenizer.window(ids, padWith: tokenizer.pad) == entry.window, "\(folder): \(text.debugDescription)")
        }
    }

    /// What the corpus holds, spelled out: SD2's pad token `!` is cut out of the text as id 0 (not
    /// merged into `!!!`), and its normalized end-of-text token is found in any case.
    @Test func sd2CutsOutItsPadTokenAndMatchesSpecialTokensInAnyCase() throws {
        let sd1 = try PromptFixtures.tokenizer("sd1"), sd2 = try PromptFixtures.tokenizer("sd2")
        #expect(sd1.encode("wow!!!") == [86, 78, 342, 995])  // 995 = "!!!</w>"
        #expect(sd2.encode("wow!!!") == [86, 78, 342, 0, 0, 0])
        #expect(sd1.encode("a ! b") == [320, 256, 321] && sd2.encode("a ! b") == [320, 0, 321])
        #expect(sd2.encode("A  <|EndOfText|>  b") == [320, 999, 321])
        #expect(!sd1.encode("A <|EndOfText|> b").contains(999))
        #expect(sd1.encode("<|STARTOFTEXT|>x") == [998, 343])  // bos is "normalized" in both
        #expect(sd1.encode("a<|endoftext|>b") == [320, 999, 321] && sd2.encode("a<|endoftext|>b") == [320, 999, 321])
    }

    /// A tokenizer given SD2's pad token `!` encodes like SD2's folder (except the upper-case
    /// spellings of special tokens, which only the folder's "normalized" flags match).
    @Test func withPadTokenMakesTheSD2Tokenizer() throws {
        let sd1 = try PromptFixtures.tokenizer("sd1")
        let sd2 = try #require(sd1.withPadToken("!"))
        #expect(sd2.pad == 0 && sd2.bos == 998 && sd2.eos == 999 && sd1.pad == 999)
        let corpus = try PromptFixtures.corpus()
        let expected = try #require(corpus.entries["sd2"])
        var compared = 0
        for (text, entry) in zip(corpus.texts, expected) where !text.contains("<|") {
            #expect(sd2.encode(text) == entry.ids, "\(text.debugDescription)")
            compared += 1
        }
        #expect(compared > 70)
        #expect(sd1.withPadToken("<pad>") == nil)
        // The full vocabulary: transformers 5.24 with pad_token="!" gives [2781, 0, 0, 0].
        #expect(try TokenizerFixtures.tokenizer().withPadToken("!")?.encode("wow!!!") == [2781, 0, 0, 0])
    }

    @Test func modelFolderLooksInItsTokenizerFolder() throws {
        let tokenizer = try CLIPTokenizer(model: PromptFixtures.root.appendingPathComponent("sd2").path)
        let direct = try PromptFixtures.tokenizer("sd2")
        #expect(tokenizer.pad == 0 && tokenizer.encode("a photo") == direct.encode("a photo"))
    }

    /// The full 49,408-token vocabulary as vocab.json + merges.txt (written here from the bundled
    /// merges, as transformers' files hold it) gives transformers' ids on the tokenizer corpus.
    @Test func fullVocabularyFolderMatchesTransformers() throws {
        let bundled = try TokenizerFixtures.tokenizer()
        let folder = try TemporaryFolder()
        let ids = Dictionary(uniqueKeysWithValues: (0..<bundled.vocabularySize).map { (bundled.token($0) ?? "", $0) })
        try JSONSerialization.data(withJSONObject: ids).write(to: folder.url("vocab.json"))
        let merges = try String(contentsOf: TokenizerFixtures.mergesFile, encoding: .utf8).split(separator: "\n").dropFirst()
        try ("#version: 0.2\n" + merges.joined(separator: "\n") + "\n").write(to: folder.url("merges.txt"), atomically: true, encoding: .utf8)

        let tokenizer = try CLIPTokenizer(folder: folder.path)
        #expect(tokenizer.vocabularySize == 49_408 && tokenizer.bos == 49_406 && tokenizer.eos == 49_407 && tokenizer.pad == 49_407)
        for id in [0, 188, 256, 512, 49_405] { #expect(tokenizer.token(id) == bundled.token(id)) }
        let corpus = try TokenizerFixtures.corpus()
        for entry in corpus.entries {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
        }
    }

    /// Each broken folder is refused with one line naming the file at fault.
    @Test func brokenFoldersAreReportedByFile() throws {
        let source = PromptFixtures.root.appendingPathComponent("sd2/tokenizer")
        func broken(_ change: (TemporaryFolder) throws -> Void) throws -> CLIPTokenizer.FolderError? {
            let folder = try TemporaryFolder()
            for name in ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"] {
                try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: folder.url(name))
            }
            try change(folder)
            do {
                _ = try CLIPTokenizer(folder: folder.path)
                return nil
            } catch {
                return error
            }
        }
        func write(_ text: String, _ name: String) -> (TemporaryFolder) throws -> Void {
            { try text.write(to: $0.url(name), atomically: true, encoding: .utf8) }
        }
        let cases: [(String, (TemporaryFolder) throws -> Void, String, String)] = [
            ("no vocab", { try FileManager.default.removeItem(at: $0.url("vocab.json")) }, "", "no vocab.json or tokenizer.json"),
            ("no merges", { try FileManager.default.removeItem(at: $0.url("merges.txt")) }, "", "no merges.txt"),
            ("vocab not JSON", write("{\"a\": ", "vocab.json"), "vocab.json", "not a JSON object of token -> integer id"),
            ("vocab lacks bytes", write("{\"a\": 0}", "vocab.json"), "vocab.json", "byte-level token"),
            ("bad merge line", write("#version: 0.2\ni n\nthree parts here\n", "merges.txt"), "merges.txt", "line 3 is not a merge"),
            ("unknown symbol", write("#version: 0.2\ni n\nzz q\n", "merges.txt"), "merges.txt", "line 3: \"zz\" is not in the vocabulary"),
            ("unknown merged token", write("#version: 0.2\nq z\n", "merges.txt"), "merges.txt", "line 2: the merged token \"qz\""),
            ("pad not in vocabulary", write("{\"pad_token\": \"<pad>\"}", "special_tokens_map.json"), "special_tokens_map.json",
             "pad_token \"<pad>\" is not in the vocabulary"),
            ("config not JSON", write("[1, 2]", "tokenizer_config.json"), "tokenizer_config.json", "not a JSON object"),
            ("tokenizer.json not BPE", write("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}, \"merges\": []}}", "tokenizer.json"),
             "tokenizer.json", "not CLIP's BPE"),
        ]
        for (name, change, file, problem) in cases {
            let failure = try #require(try broken(change), "\(name) was accepted")
            #expect(failure.path.hasSuffix(file.isEmpty ? "" : "/" + file), "\(name): \(failure)")
            #expect(failure.problem.contains(problem), "\(name): \(failure)")
            #expect(!failure.description.contains("\n"))
        }
        let missing = "/nonexistent/stipple/tokenizer"
        #expect(throws: CLIPTokenizer.FolderError(path: missing, problem: "no such tokenizer folder")) {
            try CLIPTokenizer(folder: missing)
        }
    }
}

/// A folder under the system's temporary directory, removed when the value is released.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func url(_ name: String) -> URL { URL(fileURLWithPath: path).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
