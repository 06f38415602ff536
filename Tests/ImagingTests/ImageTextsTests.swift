import Foundation
import Testing
@testable import Imaging

/// Generation texts from image containers, against files written as each tool writes them
/// (A1111 with piexif, ComfyUI, Fooocus, SwarmUI, the stealth-pnginfo extension, NovelAI) and
/// broken ones: `.venv-ref/bin/python tools/make_container_fixtures.py Tests/ImagingTests/Fixtures/metadata`
/// (what each file carries and where its format was read: Fixtures/metadata/README.md).
@Suite struct ImageTextsTests {
    struct Expected: Decodable {
        let size: [Int]
        let container: String
        let texts: [[String]]
        let `where`: [String]
    }

    static let folder = FixturePaths.fixtures.appendingPathComponent("metadata")
    static let expected: [String: Expected] = {
        let data = try? Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return (try? JSONDecoder().decode([String: Expected].self, from: data ?? Data())) ?? [:]
    }()

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static let good = [
        "a1111.jpg", "a1111.webp", "comment.jpg", "png_exif.png", "comfyui.webp", "comfyui_animated.png",
        "fooocus.jpg", "fooocus_a1111.webp", "swarmui.jpg", "stealth_alpha.png", "stealth_alpha_comp.png",
        "stealth_rgb.png", "stealth_rgb_comp.png", "novelai_stealth.png",
    ]

    @Test func everyFixtureIsListed() {
        #expect(Set(Self.expected.keys) == Set(Self.good))
    }

    /// Each tool's file gives exactly the keys and values the tool writes into a PNG, in order,
    /// with where they were found, the image's size and no notes.
    @Test(arguments: good)
    func readsFixture(name: String) throws {
        let expected = try #require(Self.expected[name])
        let file = try ImageTexts.read(path: Self.path(name))
        #expect(file.texts.map(\.key) == expected.texts.map { $0[0] })
        #expect(file.texts.map(\.value) == expected.texts.map { $0[1] })
        #expect(file.where == expected.where)
        #expect([file.width, file.height] == expected.size)
        #expect(file.container.rawValue == expected.container)
        #expect(file.notes.isEmpty, "\(file.notes)")
    }

    @Test func a1111UTF16AndSwarmLittleEndianDecode() throws {
        let a1111 = try ImageTexts.read(path: Self.path("a1111.jpg"))
        #expect(a1111.text("parameters")?.hasPrefix("a photo of a café at night, ✨ neon") == true)
        #expect(a1111.where == ["EXIF UserComment (UTF-16BE)"])
        let swarm = try ImageTexts.read(path: Self.path("swarmui.jpg"))
        #expect(swarm.text("parameters")?.contains("\"sui_image_params\"") == true)
        #expect(swarm.where == ["EXIF UserComment (UTF-16LE)"])
    }

    /// NovelAI's stealth JSON becomes its PNG texts again; Title, which its writer drops, is absent.
    @Test func novelAIStealthExpandsToItsKeys() throws {
        let file = try ImageTexts.read(path: Self.path("novelai_stealth.png"))
        #expect(file.texts.map(\.key) == ["Description", "Software", "Source", "Generation time", "Comment"])
        #expect(file.text("Software") == "NovelAI")
        #expect(file.text("Comment")?.contains("\"sampler\": \"k_euler_ancestral\"") == true)
    }

    // MARK: - broken files

    @Test func truncatedEXIFIsSkippedWithANote() throws {
        let file = try ImageTexts.read(path: Self.path("broken_truncated_exif.jpg"))
        #expect(file.texts.isEmpty && file.width == 8 && file.height == 8)
        #expect(file.notes == ["EXIF tag 0x9286: its 4000 bytes run past the end of the block (truncated EXIF; skipped)"])
    }

    @Test func ifdCycleIsNotFollowed() throws {
        let file = try ImageTexts.read(path: Self.path("broken_ifd_cycle.jpg"))
        #expect(file.texts.isEmpty)
        #expect(file.notes == ["EXIF IFD offsets loop back to an IFD already read (the loop is not followed)"])
    }

    @Test func hugeEntryCountReadsOnlyWhatIsThere() throws {
        let file = try ImageTexts.read(path: Self.path("broken_huge_count.jpg"))
        #expect(file.texts.isEmpty)
        #expect(file.notes == ["EXIF IFD declares 65535 entries but the block holds 1 (truncated EXIF)"])
    }

    @Test func oddUTF16LengthDropsTheStrayByte() throws {
        let file = try ImageTexts.read(path: Self.path("broken_odd_utf16.jpg"))
        #expect(file.texts == [PNGText(key: "parameters", value: "odd")])
        #expect(file.notes == ["EXIF UserComment: UTF-16 text of odd length 7 (last byte dropped)"])
    }

    @Test func webpChunkPastTheEndStopsTheWalk() throws {
        let file = try ImageTexts.read(path: Self.path("broken_webp_chunk.webp"))
        #expect(file.texts.isEmpty && file.width == 16 && file.height == 16)
        #expect(file.notes == ["WebP chunk EXIF runs past the end of the file (truncated)"])
    }

    @Test func stealthLengthBeyondThePixelsIsNoStealthText() throws {
        let file = try ImageTexts.read(path: Self.path("broken_stealth_length.png"))
        #expect(file.texts.isEmpty)
        #expect(file.notes == ["stealth alpha text claims 2147483640 bits but the image carries 104 (ignored)"])
    }

    /// 2 MiB of zeros in 2 KB of gzip: refused at the 1 MiB bound, not inflated.
    @Test func stealthGzipBombIsRefused() throws {
        let file = try ImageTexts.read(path: Self.path("broken_stealth_bomb.png"))
        #expect(file.texts.isEmpty)
        #expect(file.notes == ["stealth alpha (compressed) text: gzip data inflates to more than 1048576 bytes (ignored)"])
    }

    @Test func unreadableFilesAreOneLineErrorsNamingThem() {
        for (name, message) in [
            ("broken_not_image.gif", "not a PNG, JPEG or WebP file"),
            ("broken_cut_in_app1.jpg", "JPEG without a frame header giving its size"),
            ("missing.jpg", "no such file"),
        ] {
            let path = Self.path(name)
            do {
                _ = try ImageTexts.read(path: path)
                Issue.record("\(name) read")
            } catch {
                #expect(error.description.hasPrefix(path + ": ") && error.description.contains(message), "\(error)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    /// Every prefix of every fixture (a file cut anywhere) reads or fails with a one-line error.
    @Test func everyTruncationFailsCleanly() throws {
        for name in Self.good + ["broken_truncated_exif.jpg", "broken_ifd_cycle.jpg", "broken_webp_chunk.webp"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.path(name)))
            for length in stride(from: 0, to: data.count, by: name.hasSuffix(".png") ? 7 : 1) {
                do {
                    _ = try ImageTexts.read(data: data.prefix(length), path: name, stealth: true)
                } catch {
                    #expect(error.description.hasPrefix(name + ": ") && !error.description.contains("\n"))
                }
            }
        }
    }

    // MARK: - pixels are read only for stealth text

    /// A PNG header claiming 30000x30000 pixels with a text chunk and no real image data: the texts
    /// come from the chunks, at once, without decoding (which would need 3.6 GB and fail).
    @Test func pngWithTextsNeverDecodesPixels() throws {
        let bytes = Self.png(width: 30000, height: 30000, texts: [("parameters", "a cat\nSteps: 20, Sampler: Euler, Seed: 1")])
        let start = Date()
        let file = try ImageTexts.read(data: Data(bytes), path: "huge.png", stealth: true)
        #expect(Date().timeIntervalSince(start) < 1)
        #expect(file.width == 30000 && file.height == 30000)
        #expect(file.texts == [PNGText(key: "parameters", value: "a cat\nSteps: 20, Sampler: Euler, Seed: 1")])
        #expect(file.where == ["PNG tEXt"] && file.notes.isEmpty)
        // Without texts the stealth probe asks libpng for the first rows, which refuses the size.
        let bare = try ImageTexts.read(data: Data(Self.png(width: 30000, height: 30000, texts: [])), path: "bare.png", stealth: true)
        #expect(bare.texts.isEmpty && bare.notes.count == 1 && bare.notes[0].hasPrefix("pixels not read for stealth text: image too large"))
        #expect(try ImageTexts.read(data: Data(Self.png(width: 30000, height: 30000, texts: [])), path: "b", stealth: false).notes.isEmpty)
    }

    /// The stealth probe decodes the rows that can hold a signature, not the whole image.
    @Test func stealthProbeDecodesOnlyTheFirstRows() throws {
        let tall = try PNG.encode(RGBImage(width: 5, height: 400, hasAlpha: true))
        var notes: [String] = []
        let probe = try #require(StealthText.decode(Data(tall), maxRows: 120, notes: &notes))
        #expect(probe.rows == 120 && probe.height == 400 && probe.samples.count == 5 * 120 * 4)
        let whole = try #require(StealthText.decode(Data(tall), maxRows: Int(UInt32.max), notes: &notes))
        #expect(whole.rows == 400 && whole.samples.count == 5 * 400 * 4)
        #expect(try ImageTexts.read(data: Data(tall), path: "tall.png", stealth: true).texts.isEmpty)
    }

    // MARK: - pieces

    @Test func gunzipBoundsItsOutput() throws {
        // gzip of "hello" (Python: gzip.compress(b"hello", mtime=0)).
        let hello: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xCB, 0x48, 0xCD, 0xC9, 0xC9,
                              0x07, 0x00, 0x86, 0xA6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00]
        #expect(try StealthText.gunzip(hello, limit: 5) == Array("hello".utf8))
        #expect(throws: ImageTextsError("gzip data inflates to more than 4 bytes")) { try StealthText.gunzip(hello, limit: 4) }
        #expect(throws: ImageTextsError("truncated gzip data")) { try StealthText.gunzip(Array(hello.prefix(15)), limit: 100) }
        #expect(throws: ImageTextsError.self) { try StealthText.gunzip(Array("hello".utf8), limit: 100) }
    }

    @Test func userCommentCharsets() {
        var notes: [String] = []
        func decode(_ bytes: [UInt8], tiffLittleEndian: Bool = false) -> String? {
            EXIFTexts.decodeUserComment(bytes, tiffLittleEndian: tiffLittleEndian, notes: &notes).map { $0.0 + "|" + $0.1 }
        }
        let unicode = Array("UNICODE\0".utf8)
        #expect(decode(unicode + [0, 0x61, 0, 0x62]) == "ab| (UTF-16BE)")
        #expect(decode(unicode + [0x61, 0, 0x62, 0]) == "ab| (UTF-16LE)")  // zero bytes second: LE in a BE TIFF
        #expect(decode(unicode + [0xFF, 0xFE, 0x2B, 0x73]) == "猫| (UTF-16LE)")   // a BOM decides
        #expect(decode(unicode + [0xFE, 0xFF, 0x73, 0x2B], tiffLittleEndian: true) == "猫| (UTF-16BE)")
        #expect(decode(unicode + [0x73, 0x2B]) == "猫| (UTF-16BE)")          // no clue: the TIFF's order
        #expect(decode(unicode + [0x2B, 0x73], tiffLittleEndian: true) == "猫| (UTF-16LE)")
        #expect(decode(unicode + [0xD8, 0x3D]) == "\u{FFFD}| (UTF-16BE)")   // an unpaired surrogate
        #expect(decode(Array("ASCII\0\0\0abc\0".utf8)) == "abc| (ASCII)")
        #expect(decode([0, 0, 0, 0, 0, 0, 0, 0] + Array("abc".utf8)) == "abc| (undefined charset)")
        #expect(decode(Array("Steps: 20\0".utf8)) == "Steps: 20|")
        #expect(decode(Array("caf".utf8) + [0xE9]) == "café|")              // not UTF-8: Latin-1
        #expect(notes.isEmpty)
    }

    @Test func comfyTextsNeedAKeyAndJSON() {
        #expect(EXIFTexts.comfyText("prompt:{\"1\": {}}") == PNGText(key: "prompt", value: "{\"1\": {}}"))
        #expect(EXIFTexts.comfyText("workflow:[1]")?.key == "workflow")
        #expect(EXIFTexts.comfyText("Canon") == nil)
        #expect(EXIFTexts.comfyText("EOS: 5D Mark II") == nil)
        #expect(EXIFTexts.comfyText(":{}") == nil)
        #expect(EXIFTexts.comfyText("a\u{1}b:{}") == nil)
    }

    @Test func flatJSONKeepsOrderAndRefusesNesting() {
        #expect(FlatJSON.stringPairs(#"{"b": "1", "a": "x\"\n\u00e9\ud83d\ude00"}"#) ==
            [PNGText(key: "b", value: "1"), PNGText(key: "a", value: "x\"\né😀")])
        #expect(FlatJSON.stringPairs("{}") == [])
        #expect(FlatJSON.stringPairs(#"{"a": {"b": "c"}}"#) == nil)
        #expect(FlatJSON.stringPairs(#"{"a": 1}"#) == nil)
        #expect(FlatJSON.stringPairs(#"{"a": "\ud800"}"#) == nil)
        #expect(FlatJSON.stringPairs(#"{"a": "b"} x"#) == nil)
        #expect(FlatJSON.stringPairs(#"{"a": "b""#) == nil)
        #expect(StealthText.novelAITexts(#"{"Description": "d", "Comment": "{}"}"#)?.map(\.key) == ["Description", "Comment"])
        #expect(StealthText.novelAITexts(#"{"prompt": "x"}"#) == nil)
        #expect(StealthText.novelAITexts("a cat\nSteps: 20") == nil)
    }

    // MARK: - helpers

    /// A PNG made by hand: IHDR (8-bit RGBA), tEXt chunks, a few bytes of (broken) image data, IEND.
    static func png(width: Int, height: Int, texts: [(String, String)]) -> [UInt8] {
        let (chunk, be) = (PNGChunkBytes.chunk, PNGChunkBytes.bigEndian)
        var bytes = PNGChunkBytes.signature
        bytes += chunk("IHDR", be(UInt32(width)) + be(UInt32(height)) + [8, 6, 0, 0, 0])
        for (key, value) in texts { bytes += chunk("tEXt", Array(key.utf8) + [0] + Array(value.utf8)) }
        bytes += chunk("IDAT", [0x78, 0x9C, 0x01, 0x02])
        return bytes + chunk("IEND", [])
    }
}
