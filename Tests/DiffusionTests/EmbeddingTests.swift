import Foundation
import Tensor
import Testing
@testable import Diffusion

/// Textual-inversion embeddings (A1111's `.safetensors` formats, used by file name in the
/// prompt): parity with diffusers' `load_textual_inversion` on the tiny sd1 and SDXL pipelines
/// (Fixtures/lora, made by tools/make_lora_fixtures.py; its README explains the files and why
/// diffusers and A1111's rule agree on them), at the pipeline bar; then A1111's rule itself
/// (whole words, chunks, emphasis, the negative prompt), the cache, infotext's `TI hashes`, and
/// every file that must be refused in one line naming it.
@Suite struct EmbeddingTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("lora") }
    static var embeddingsFolder: String { folder.appendingPathComponent("embeddings").path }

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    /// The fixture cases as JSON objects, by name.
    static func caseData(_ name: String) throws -> Data {
        let all = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("cases.json"))) as? [[String: Any]])
        let found = try #require(all.first { $0["name"] as? String == name }, "no case \(name)")
        return try JSONSerialization.data(withJSONObject: found)
    }

    /// The ids diffusers fed the encoder and which added ids stand for which vectors.
    struct Ids: Decodable {
        var prompt_ids: [Int]
        var negative_prompt_ids: [Int]
        var prompt_embedding_ids: [String: [EmbeddingIndex]]
        var prompt_2_ids: [Int]?

        enum EmbeddingIndex: Decodable {
            case name(String), index(Int)
            init(from decoder: any Decoder) throws {
                let value = try decoder.singleValueContainer()
                if let index = try? value.decode(Int.self) { self = .index(index) } else { self = .name(try value.decode(String.self)) }
            }
        }
    }

    static var sd1: StableDiffusionModel { get throws { try PipelineTests.models.model("sd1") } }
    static var sdxl: StableDiffusionModel { get throws { try SDXLPipelineTests.models.model("sdxl") } }

    /// The sd1 model's prompt reader with `library`.
    static func reader(_ library: EmbeddingLibrary?) throws -> PromptConditioning {
        let conditioner = try #require(try sd1.conditioner as? CLIPTextConditioner)
        return try conditioner.promptConditioning(library)
    }

    /// A scratch folder holding `files` (name -> bytes) and a library on it with its own cache.
    static func library(_ files: [String: [UInt8]]) throws -> (ScratchFolder, EmbeddingLibrary) {
        let scratch = try ScratchFolder()
        for (name, bytes) in files { try scratch.write(name, bytes) }
        return (scratch, EmbeddingLibrary(folder: scratch.url.path, cache: EmbeddingCache()))
    }

    static func fixtureBytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: embeddingsFolder).appendingPathComponent(name)))
    }

    /// A one-tensor SD1 embedding file: `emb_params` [count, width] of `values` (default 0.1, 0.2, ...).
    static func embeddingFile(count: Int, width: Int, values: [Float]? = nil, key: String = "emb_params") -> [UInt8] {
        var builder = SafetensorsBuilder()
        builder.add(key, f32: values ?? (0..<(count * width)).map { Float($0 + 1) / 10 }, shape: [count, width])
        return builder.bytes
    }

    /// A one-step 32x32 request for `prompt` with embeddings from `folder`.
    static func quickRequest(_ prompt: String, folder: String?) -> GenerationRequest {
        var request = GenerationRequest(prompt: prompt)
        request.steps = 1
        request.width = 32
        request.height = 32
        request.preview = .off
        request.embeddingsFolder = folder
        return request
    }

    // MARK: Parity with diffusers

    @Test(arguments: ["sd1-embedding", "sd1-embedding-negative"])
    func sd1MatchesDiffusers(_ name: String) throws {
        let fixture = try JSONDecoder().decode(PipelineTests.Case.self, from: Self.caseData(name))
        var request = try PipelineTests.request(for: fixture)
        request.embeddingsFolder = Self.embeddingsFolder
        let image = try #require(try Pipeline(model: Self.sd1).run(request).first)
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor(name), label: "embedding \(name)")
    }

    @Test func sdxlMatchesDiffusers() throws {
        let fixture = try JSONDecoder().decode(SDXLPipelineTests.Case.self, from: Self.caseData("sdxl-embedding"))
        var request = try SDXLPipelineTests.request(for: fixture)
        request.embeddingsFolder = Self.embeddingsFolder
        let image = try #require(try Pipeline(model: Self.sdxl).run(request).first)
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor("sdxl-embedding"), label: "embedding sdxl-embedding")
    }

    /// Without the folder the name is plain words, and the image is far from diffusers' (the
    /// parity test above can fail).
    @Test func withoutTheFolderTheNameIsWordsAndTheImageDiffers() throws {
        let fixture = try JSONDecoder().decode(PipelineTests.Case.self, from: Self.caseData("sd1-embedding"))
        let image = try #require(try Pipeline(model: Self.sd1).run(try PipelineTests.request(for: fixture)).first)
        let latents = try Self.latents.tensor("sd1-embedding")
        let difference = zip(try image.engineLatents.storage, latents.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1, "latents differ by only \(difference)")
    }

    /// Our chunks are diffusers' ids with each added id read as the embedding's vector: the same
    /// positions, and the file's vectors exactly (both encoders for SDXL).
    @Test(arguments: ["sd1-embedding", "sd1-embedding-negative", "sdxl-embedding"])
    func chunksAreDiffusersIds(_ name: String) throws {
        let ids = try JSONDecoder().decode(Ids.self, from: Self.caseData(name))
        let fixture = try JSONDecoder().decode(PipelineTests.Case.self, from: Self.caseData(name))
        let library = EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache())
        let sdxl = name.hasPrefix("sdxl")
        let readers: [(PromptConditioning, [Int], EmbeddingEncoder)]
        if sdxl {
            let conditioner = try #require(try Self.sdxl.conditioner as? SDXLTextConditioner)
            readers = [(try conditioner.first.promptConditioning(library, encoder: .clipL, finalLayerNorm: false), ids.prompt_ids, .clipL),
                       (try conditioner.second.promptConditioning(library, encoder: .clipG, finalLayerNorm: false), try #require(ids.prompt_2_ids), .clipG)]
        } else {
            let negative = (fixture.negative_prompt ?? "").contains("tinystyle")
            readers = [(try Self.reader(library), negative ? ids.negative_prompt_ids : ids.prompt_ids, .single)]
        }
        let file = try SafetensorsFile(path: Self.embeddingsFolder + (sdxl ? "/tinyxl.safetensors" : "/tinystyle.safetensors"))
        for (reader, expected, encoder) in readers {
            let negative = fixture.negative_prompt ?? ""
            let prompt = negative.contains("tinystyle") ? negative : fixture.prompt
            let chunks = try reader.chunks(of: prompt)
            #expect(chunks.count == 1)
            let chunk = try #require(chunks.first)
            let window = reader.tokenizer.window(chunk.tokens, padWith: reader.padToken)
            #expect(window == expected.map { $0 >= 1000 ? PromptChunk.embeddingPlaceholder : $0 }, "\(name) \(encoder)")
            let embedded = try #require(chunk.embeddings.first)
            #expect(chunk.embeddings.count == 1)
            #expect(1 + embedded.offset == expected.firstIndex(of: 1000))
            #expect(embedded.vectors.count == expected.filter { $0 >= 1000 }.count)
            let tensor = try file.tensor(encoder == .single ? "emb_params" : encoder.rawValue)
            #expect(embedded.vectors.values == tensor.storage)
        }
    }

    // MARK: A1111's rule

    @Test func onlyTheWholeWordUsesTheEmbedding() throws {
        let reader = try Self.reader(EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache()))
        let plain = try Self.reader(nil)
        for prompt in ["a tinystyles house", "a mytinystyle house", "a tiny style house", "a tinystylehouse"] {
            let chunks = try reader.chunks(of: prompt)
            #expect(chunks.allSatisfy { $0.embeddings.isEmpty }, "\(prompt)")
            #expect(chunks == (try plain.chunks(of: prompt)), "\(prompt): left as text")
        }
        for prompt in ["a tinystyle house", "a TinyStyle house", "tinystyle", "a,tinystyle,house", "(a)tinystyle"] {
            let chunks = try reader.chunks(of: prompt)
            #expect(chunks.flatMap(\.embeddings).map(\.embedding.name) == ["tinystyle"], "\(prompt)")
        }
        #expect(try reader.chunks(of: "tinystyle and tinystyle").flatMap(\.embeddings).map(\.offset) == [0, 3])
    }

    @Test func unknownNamesStayTextAndUnnamedFilesAreNotRead() throws {
        let (scratch, library) = try Self.library(["tinystyle.safetensors": try Self.fixtureBytes("tinystyle.safetensors"),
                                                   "broken.safetensors": Array("not an embedding".utf8)])
        defer { scratch.remove() }
        let reader = try Self.reader(library)
        let prompt = "a tinyxl house by the sea"
        #expect(try reader.chunks(of: prompt) == (try Self.reader(nil).chunks(of: prompt)))
        #expect(library.cache.reads == 0, "a file no prompt names was read")
        _ = try reader.chunks(of: "a tinystyle house")
        #expect(library.cache.reads == 1)
    }

    /// 73 tokens then a 2-vector embedding fill one chunk; 74 push it whole into the next.
    @Test func anEmbeddingThatWouldStraddleAChunkMovesWhole() throws {
        let reader = try Self.reader(EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache()))
        #expect(reader.tokenizer.encode("a") == [320])
        let fits = try reader.chunks(of: String(repeating: "a ", count: 73) + "tinystyle a")
        #expect(fits.map(\.tokens.count) == [75, 1])
        #expect(fits[0].embeddings.map(\.offset) == [73])
        let moves = try reader.chunks(of: String(repeating: "a ", count: 74) + "tinystyle a")
        #expect(moves.map(\.tokens.count) == [74, 3])
        #expect(moves[0].embeddings.isEmpty)
        #expect(moves[1].embeddings.map(\.offset) == [0])
        #expect(moves[1].tokens == [0, 0, 320])

        // Text after a comma near a chunk's end moves to the next chunk with its embedding.
        let afterComma = try reader.chunks(of: String(repeating: "a ", count: 70) + ", tinystyle a a a")
        #expect(afterComma.map(\.tokens.count) == [71, 5])
        #expect(afterComma[0].embeddings.isEmpty && afterComma[1].embeddings.map(\.offset) == [0])
        #expect(afterComma[1].tokens == [0, 0, 320, 320, 320])
    }

    @Test func emphasisWeightsTheVectors() throws {
        let reader = try Self.reader(EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache()))
        let chunk = try #require(try reader.chunks(of: "a (tinystyle:1.2) house").first)
        #expect(chunk.embeddings.map(\.offset) == [1])
        #expect(chunk.weights == [1, 1.2, 1.2, 1, 1, 1])
        let weighted = try reader.encode("a (tinystyle:1.2) house")
        let plain = try reader.encode("a tinystyle house")
        #expect(weighted.storage != plain.storage)
        // The emphasis is A1111's on the window the vectors made.
        var expected = try reader.encode(chunks: [PromptChunk(tokens: chunk.tokens, weights: [1, 1, 1, 1, 1, 1], embeddings: chunk.embeddings)])
        PromptConditioning.emphasize(&expected, weights: [1] + chunk.weights + [Float](repeating: 1, count: 77 - 1 - chunk.weights.count))
        #expect(weighted.storage == expected.storage)
    }

    /// The vectors replace the token-embedding lookup: the same as a text encoder whose table
    /// holds them at the ids in the window.
    @Test func vectorsStandInForTheTokenEmbeddings() throws {
        let reader = try Self.reader(EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache()))
        let chunk = try #require(try reader.chunks(of: "a tinystyle house").first)
        let window = reader.tokenizer.window(chunk.tokens, padWith: reader.padToken)
        let states = reader.textModel.hiddenStates(tokens: [window], vectors: [chunk.windowVectors], upToLayer: 0)[0]
        let plain = reader.textModel.hiddenStates(tokens: [window], upToLayer: 0)[0]
        let hidden = reader.textModel.hiddenSize
        let vectors = try #require(chunk.embeddings.first).vectors
        let positions = reader.textModel.positionEmbedding.storage
        for position in 0..<window.count {
            let row = Array(states.storage[(position * hidden)..<((position + 1) * hidden)])
            if (2...3).contains(position) {
                let vector = Array(vectors.vector(position - 2))
                let expected = (0..<hidden).map { vector[$0] + positions[position * hidden + $0] }
                #expect(row == expected, "position \(position)")
            } else {
                #expect(row == Array(plain.storage[(position * hidden)..<((position + 1) * hidden)]), "position \(position)")
            }
        }
    }

    /// Chunks made by hand with vectors that do not fit are refused, never a trap.
    @Test func handMadeChunksThatDoNotFitAreRefused() throws {
        let reader = try Self.reader(EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache()))
        let chunk = try #require(try reader.chunks(of: "a tinystyle").first)
        var narrow = chunk
        narrow.embeddings[0].vectors = EmbeddingVectors(count: 2, width: 4, values: [Float](repeating: 0, count: 8))
        var late = chunk
        late.embeddings[0].offset = 2
        for bad in [narrow, late] {
            #expect(throws: PromptConditioningError.self) { _ = try reader.encode(chunks: [bad]) }
        }
        #expect(throws: Never.self) { _ = try reader.encode(chunks: [chunk]) }
    }

    @Test func theNegativePromptUsesEmbeddingsToo() throws {
        let conditioner = try #require(try Self.sd1.conditioner as? CLIPTextConditioner)
        let library = EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache())
        let with = ConditioningRequest(prompt: "a red house", negativePrompt: "blurry, tinystyle", width: 32, height: 32, embeddings: library)
        var without = with
        without.embeddings = nil
        let (a, b) = (try conditioner.encode(with), try conditioner.encode(without))
        #expect(a.positive.crossAttention.storage == b.positive.crossAttention.storage)
        #expect(a.negative?.crossAttention.storage != b.negative?.crossAttention.storage)
        #expect(try conditioner.embeddings(usedBy: with).map(\.name) == ["tinystyle"])
        var unguided = with
        unguided.negativePrompt = nil
        #expect(try conditioner.embeddings(usedBy: unguided).isEmpty)
    }

    @Test func sdxlGivesEachEncoderItsOwnVectors() throws {
        let conditioner = try #require(try Self.sdxl.conditioner as? SDXLTextConditioner)
        let library = EmbeddingLibrary(folder: Self.embeddingsFolder, cache: EmbeddingCache())
        let l = try conditioner.first.promptConditioning(library, encoder: .clipL).chunks(of: "a tinyxl house")
        let g = try conditioner.second.promptConditioning(library, encoder: .clipG).chunks(of: "a tinyxl house")
        #expect(l[0].embeddings.first?.vectors.width == 32 && g[0].embeddings.first?.vectors.width == 64)
        #expect(l[0].embeddings.first?.vectors.count == 3 && g[0].embeddings.first?.vectors.count == 3)
        let request = ConditioningRequest(prompt: "a tinyxl house", negativePrompt: nil, width: 32, height: 32, embeddings: library)
        #expect(try conditioner.embeddings(usedBy: request).map(\.name) == ["tinyxl"])
    }

    // MARK: Files

    @Test func float16AndBFloat16FilesAreWidenedExactly() throws {
        var half = SafetensorsBuilder()
        half.add("emb_params", f16: [0x3C00, 0xC000, 0x3800, 0x0001], shape: [1, 4])  // 1, -2, 0.5, 2^-24
        var brain = SafetensorsBuilder()
        brain.add("whatever", bf16: [0x3F80, 0xC040, 0x3E80, 0x4120], shape: [4])  // 1, -3, 0.25, 10
        let (scratch, library) = try Self.library(["half.safetensors": half.bytes, "brain.safetensors": brain.bytes])
        defer { scratch.remove() }
        let files = try library.files()
        #expect(try library.embedding(named: "half", path: try #require(files["half"])).vectors(for: .single, width: 4).values
            == [1, -2, 0.5, Float(bitPattern: 0x3380_0000)])
        #expect(try library.embedding(named: "brain", path: try #require(files["brain"])).vectors(for: .single, width: 4).values == [1, -3, 0.25, 10])
    }

    /// Every unusable file is one line naming it, through the pipeline as through the reader.
    @Test func badFilesAreRefusedInOneLineNamingTheFile() throws {
        let model = try Self.sd1
        let nan = Self.embeddingFile(count: 2, width: 32, values: (0..<64).map { $0 == 5 ? .nan : 0.1 })
        var twoTensors = SafetensorsBuilder()
        twoTensors.add("a", f32: [Float](repeating: 0, count: 32), shape: [1, 32])
        twoTensors.add("b", f32: [Float](repeating: 0, count: 32), shape: [1, 32])
        var cube = SafetensorsBuilder()
        cube.add("emb_params", f32: [Float](repeating: 0, count: 64), shape: [1, 2, 32])
        var onlyL = SafetensorsBuilder()
        onlyL.add("clip_l", f32: [Float](repeating: 0, count: 32), shape: [1, 32])
        var integers = SafetensorsBuilder()
        integers.add("emb_params", dtype: "I32", raw: [Int32](repeating: 1, count: 32), shape: [1, 32])
        let cases: [(file: String, bytes: [UInt8], says: String)] = [
            ("narrow.safetensors", Self.embeddingFile(count: 2, width: 16), "16 wide, but this model's text encoder takes 32"),
            ("nan.safetensors", nan, "not finite"),
            ("empty.safetensors", [], "empty"),
            ("text.safetensors", Array("just some text, not a tensor file".utf8), "must be a .safetensors file"),
            ("pickle.pt", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0], "PyTorch pickle"),
            ("pickle2.bin", [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E, 0, 0, 0, 0], "PyTorch pickle"),
            ("none.safetensors", SafetensorsBuilder().bytes, "no tensors"),
            ("zero.safetensors", Self.embeddingFile(count: 0, width: 32), "no vectors"),
            ("many.safetensors", Self.embeddingFile(count: 76, width: 32), "76 vectors"),
            ("two.safetensors", twoTensors.bytes, "holds 2 tensors (a, b)"),
            ("cube.safetensors", cube.bytes, "shape [1, 2, 32]"),
            ("onlyl.safetensors", onlyL.bytes, "clip_l without clip_g"),
            ("ints.safetensors", integers.bytes, "dtype I32"),
            ("tinyxl.safetensors", try Self.fixtureBytes("tinyxl.safetensors"), "an SDXL embedding"),
        ]
        for (file, bytes, says) in cases {
            let (scratch, library) = try Self.library([file: bytes])
            defer { scratch.remove() }
            let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            let path = scratch.url.appendingPathComponent(file).path
            let reader = try Self.reader(library)
            do {
                _ = try reader.chunks(of: "a \(name) house")
                Issue.record("\(file) was read")
            } catch {
                guard case .embedding(let refused) = error else { Issue.record("\(file): \(error)"); continue }
                #expect(refused.path == path && refused.problem.contains(says), "\(file): \(refused)")
            }
            var request = Self.quickRequest("a \(name) house", folder: scratch.url.path)
            do {
                _ = try Pipeline(model: model).run(request)
                Issue.record("\(file) was accepted")
            } catch {
                let message = error.description
                #expect(message.contains(path), "\(file): \(message)")
                #expect(message.contains(says), "\(file): \(message)")
                #expect(!message.contains("\n"), "\(file): \(message)")
            }
            // Only when named: the same folder with a prompt that does not name the file works.
            request.prompt = "a house"
            #expect(throws: Never.self) { _ = try Pipeline(model: model).run(request) }
        }
    }

    @Test func anSD1EmbeddingIsRefusedOnSDXL() throws {
        let request = Self.quickRequest("a tinystyle house", folder: Self.embeddingsFolder)
        let model = try Self.sdxl
        do {
            _ = try Pipeline(model: model).run(request)
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("tinystyle.safetensors: an SD 1.x / 2.x embedding"), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func aMissingFolderIsOneLine() throws {
        let request = Self.quickRequest("a house", folder: "/nonexistent/embeddings")
        let model = try Self.sd1
        #expect(throws: GenerationError.invalid("embedding /nonexistent/embeddings: the embeddings folder does not exist (--embeddings-dir, embeddings_dir)")) {
            _ = try Pipeline(model: model).run(request)
        }
    }

    @Test func namesComeFromFilesAndSafetensorsWinOverPickles() throws {
        let bytes = try Self.fixtureBytes("tinystyle.safetensors")
        let (scratch, library) = try Self.library(["sub/dir/deep.safetensors": bytes, "tinystyle.pt": [0x80, 0x02],
                                                   "sub/tinystyle.safetensors": bytes, ".hidden/x.safetensors": bytes,
                                                   "notes.txt": [0x41], "Mixed Case.safetensors": bytes])
        defer { scratch.remove() }
        let files = try library.files()
        #expect(Set(files.keys) == ["deep", "tinystyle", "Mixed Case"])
        #expect(files["tinystyle"]?.hasSuffix("sub/tinystyle.safetensors") == true)
        // A name with a space is its token sequence ("mixed", "case").
        let reader = try Self.reader(library)
        #expect(try reader.chunks(of: "a mixed case house").flatMap(\.embeddings).map(\.embedding.name) == ["Mixed Case"])
    }

    @Test func theCacheReadsAFileOnceUntilItChanges() throws {
        let (scratch, library) = try Self.library(["style.safetensors": Self.embeddingFile(count: 2, width: 32)])
        defer { scratch.remove() }
        let reader = try Self.reader(library)
        let first = try reader.chunks(of: "a style")
        _ = try reader.chunks(of: "a style, style")
        _ = try Self.reader(library).chunks(of: "style")
        #expect(library.cache.reads == 1)
        try scratch.write("style.safetensors", Self.embeddingFile(count: 3, width: 32))
        let changed = try reader.chunks(of: "a style")
        #expect(library.cache.reads == 2)
        #expect(first[0].embeddings[0].vectors.count == 2 && changed[0].embeddings[0].vectors.count == 3)
    }

    // MARK: Infotext

    @Test func infotextListsTheEmbeddingsUsedWithA1111sHash() throws {
        let model = try Self.sd1
        var request = GenerationRequest(prompt: "a tinystyle house")
        request.negativePrompt = "blurry, tinystyle"
        request.embeddingsFolder = Self.embeddingsFolder
        // sha256sum Tests/DiffusionTests/Fixtures/lora/embeddings/tinystyle.safetensors: 0bef9235e4ff15db...
        let text = Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "t")
        #expect(text["TI hashes"] == "tinystyle: 0bef9235e4ff")
        #expect(text.text.contains(#"RNG: CPU, TI hashes: "tinystyle: 0bef9235e4ff", Version: t"#))

        request.prompt = "a red house"
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "t")["TI hashes"]
            == "tinystyle: 0bef9235e4ff")
        request.cfgScale = 1  // the negative prompt is not encoded
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "t")["TI hashes"] == nil)
        request.embeddingsFolder = nil
        request.cfgScale = 7
        request.prompt = "a tinystyle house"
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "t")["TI hashes"] == nil)

        let sdxlText = Infotext(request: { var r = GenerationRequest(prompt: "a tinyxl house"); r.embeddingsFolder = Self.embeddingsFolder; return r }(),
                                seed: 1, width: 32, height: 32, model: try Self.sdxl, modelHash: nil, version: "t")
        #expect(sdxlText["TI hashes"] == "tinyxl: aca6ef13bdbe")
    }

    @Test func fromKeepsTheFieldHarmlessly() throws {
        let text = Infotext(parsing: """
            a tinystyle house
            Negative prompt: blurry, tinystyle
            Steps: 12, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 32x32, RNG: CPU, TI hashes: "tinystyle: 0bef9235e4ff, other: 123456789abc", Version: v1.9.0
            """)
        #expect(text["TI hashes"] == "tinystyle: 0bef9235e4ff, other: 123456789abc")
        let request = try GenerationRequest(infotext: text)
        #expect(request.prompt == "a tinystyle house" && request.negativePrompt == "blurry, tinystyle" && request.steps == 12)
        #expect(GenerationRequest.warnings(for: text).isEmpty)
    }
}
