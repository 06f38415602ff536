import Diffusion
import Foundation
import Terminal
import Testing
@testable import Studio

/// The studio's LoRA list (F7) on real folders, `<lora:NAME:1>` put at the prompt's cursor, and
/// Alt-= / Alt-- rewriting the weight of the tag the cursor is on.
@Suite struct LoraStudioTests {
    static func press(_ keys: [Key], _ state: inout StudioState) {
        for key in keys { _ = StudioKeyMap.handle(key, state: &state, editorWidth: 40) }
    }

    /// A temporary folder with `files` (a trailing `/` makes a folder), removed by the caller.
    static func folder(_ files: [String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-loras-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in files {
            let url = folder.appendingPathComponent(file)
            if file.hasSuffix("/") {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            } else {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(repeating: 7, count: 1500).write(to: url)
            }
        }
        return folder
    }

    // MARK: The list

    /// Found as the engine finds a tag's file (A1111's way): by name, in the folder or below it,
    /// hidden files and folders left out, any case of `.safetensors`.
    @Test func listsTheSafetensorsFilesByName() throws {
        let folder = try Self.folder(["b_style.safetensors", "A_detail.safetensors", ".hidden.safetensors", "notes.txt",
                                      "sub.safetensors/", "upper.SAFETENSORS", "esc\u{1B}]52;c;x\u{07}.safetensors",
                                      "colon:name.safetensors", "sd15/deep.safetensors", ".cache/secret.safetensors",
                                      " spaced .safetensors"])
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("linked.safetensors").path,
                                                   withDestinationPath: folder.appendingPathComponent("b_style.safetensors").path)
        let list = try LoraList.load(folder: folder.path).get()
        #expect(list.entries.map(\.name) == [" spaced ", "A_detail", "b_style", "colon:name", "deep", "esc\u{1B}]52;c;x\u{07}", "linked", "upper"])
        #expect(list.entries.map(\.fitsInTag) == [false, true, true, false, true, false, true, true])
        #expect(list.entries[4].path == "sd15/deep.safetensors" && list.entries[4].shownName == "sd15/deep")
        #expect(list.entries[7].shownName == "upper")
        #expect(list.entries[1].bytes == 1500 && list.entries[1].shownSize == "2 KB")
        #expect(list.entries[5].shownName == "esc\\e]52;c;x\\x07")
        #expect(LoraList.Entry(path: "x.safetensors", bytes: 144_300_000).shownSize == "144.3 MB")
    }

    @Test func noFolderAMissingOneAndAnEmptyOneAreSaidNotShown() throws {
        let empty = try Self.folder(["notes.txt", "sub.safetensors/"])
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(LoraList.load(folder: nil) == .failure(.noFolder))
        #expect(LoraList.load(folder: "/no/such/folder") == .failure(.missing("/no/such/folder")))
        #expect(LoraList.load(folder: empty.appendingPathComponent("notes.txt").path)
                == .failure(.notAFolder(empty.appendingPathComponent("notes.txt").path)))
        #expect(LoraList.load(folder: empty.path) == .failure(.empty(empty.path)))

        var state = StudioState(modelName: "m", width: 64, height: 64)
        Self.press([.function(7)], &state)
        #expect(state.focus == .prompt && state.loras == nil && state.statusKind == .warning)
        #expect(state.status == "No LoRA folder: start the studio with --lora-dir DIR, or set lora_dir in ~/.config/stipple/config.toml.")
        state.panel.loraFolder = empty.path
        Self.press([.function(7)], &state)
        #expect(state.focus == .prompt && state.status == "No .safetensors files in the LoRA folder \(empty.path) or below it.")
        state.panel.loraFolder = "/no/such/folder"
        Self.press([.function(7)], &state)
        #expect(state.focus == .prompt && state.status == "LoRA folder /no/such/folder is not there (--lora-dir, lora_dir).")
    }

    @Test func enterPutsTheTagAtThePromptsCursor() throws {
        let folder = try Self.folder(["b_style.safetensors", "A_detail.safetensors", "bad:name.safetensors"])
        defer { try? FileManager.default.removeItem(at: folder) }
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.loraFolder = folder.path
        state.prompt.text = "a cat, night"
        for _ in 0..<6 { state.prompt.moveLeft() }  // after "a cat,"
        Self.press([.function(7)], &state)
        #expect(state.focus == .loras && state.loras?.entries.count == 3)
        #expect(state.status == "3 LoRAs: Enter puts <lora:NAME:1> at the prompt's cursor, Esc goes back.")
        Self.press([.down, .enter], &state)
        #expect(state.prompt.text == "a cat, <lora:b_style:1> night" && state.focus == .prompt)
        #expect(state.prompt.cursor == "a cat, <lora:b_style:1>".count)
        #expect(state.statusKind == .success && state.status == "Added <lora:b_style:1>; Alt-= / Alt-- change its weight.")
        // Typing goes on in the prompt; the list opens again on the same file.
        Self.press([.function(7)], &state)
        #expect(state.loras?.selectedEntry?.name == "b_style")
        // Esc and F7 close it and change nothing.
        Self.press([.escape], &state)
        #expect(state.focus == .prompt)
        Self.press([.function(7), .function(7)], &state)
        #expect(state.focus == .prompt && state.prompt.text == "a cat, <lora:b_style:1> night")
        // At the end of a prompt: one space before, none after; in an empty prompt: the tag alone.
        state.prompt.text = "a cat,"
        Self.press([.function(7), .home, .enter], &state)
        #expect(state.prompt.text == "a cat, <lora:A_detail:1>")
        state.prompt.text = ""
        Self.press([.function(7), .enter], &state)
        #expect(state.prompt.text == "<lora:A_detail:1>")
        // Before a word: a space after it too; inside brackets none.
        state.prompt.text = "(cat)"
        state.prompt.moveLeft()
        state.prompt.moveLeft()
        state.prompt.moveLeft()
        state.prompt.moveLeft()
        Self.press([.function(7), .enter], &state)
        #expect(state.prompt.text == "(<lora:A_detail:1> cat)")
        // A name a tag cannot hold is refused, the prompt unchanged.
        state.prompt.text = "x"
        Self.press([.function(7), .end, .enter], &state)
        #expect(state.prompt.text == "x" && state.statusKind == .error && state.focus == .loras)
        #expect(state.status.hasPrefix("bad:name cannot be named in a <lora:...> tag (: < >, control characters or spaces at its ends)"))
    }

    @Test func theListIsDrawnEscapedAndScrolls() throws {
        let names = (1...40).map { String(format: "style_%02d", $0) } + ["evil\u{1B}[2J"]
        let folder = try Self.folder(names.map { $0 + ".safetensors" })
        defer { try? FileManager.default.removeItem(at: folder) }
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.panel.loraFolder = folder.path
        state.prompt.text = "a cat"
        Self.press([.function(7)], &state)
        let screen = HeadlessScreen(rows: 24, columns: 80)
        StudioView().draw(state, on: screen)
        #expect(screen.contains("LoRAs (41)") && screen.contains("evil\\e[2J") && screen.contains("style_01"))
        #expect(!screen.cells.joined().contains { $0.character == "\u{1B}" })
        #expect(!screen.contains("style_40") && screen.contains("│a cat"))
        // The prompt keeps its cursor on screen, where the tag will go.
        let layout = StudioLayout(rows: 24, columns: 80)
        #expect(screen.cursor! == (layout.prompt.inner.row, layout.prompt.inner.column + 5))
        Self.press([.end], &state)
        StudioView().draw(state, on: screen)
        #expect(screen.contains("style_40") && !screen.contains("style_01"), "\(screen.text)")
        Self.press([.pageUp, .up], &state)
        #expect(state.loras?.selected == 29)
        Self.press([.home, .character("j"), .character("j"), .character("k")], &state)
        #expect(state.loras?.selected == 1 && state.loras?.selectedEntry?.name == "style_01")
    }

    // MARK: Weights

    /// `text` with the cursor at the `|`, the result of `delta` on it, and the text and cursor after.
    static func adjust(_ text: String, by delta: Double) -> (text: String, result: Result<LoraTag, LoraTag.Problem>) {
        let cursor = text.distance(from: text.startIndex, to: text.firstIndex(of: "|")!)
        var editor = TextEditor(text: text.replacingOccurrences(of: "|", with: ""))
        for _ in 0..<(editor.characters.count - cursor) { editor.moveLeft() }
        let result = editor.adjustLoraWeight(by: delta)
        var shown = editor.characters
        shown.insert("|", at: editor.cursor)
        return (String(shown), result)
    }

    @Test func weightsChangeByATenth() {
        #expect(Self.adjust("a cat <lora:style:1>|", by: 0.1).text == "a cat <lora:style:1.1>|")
        #expect(Self.adjust("a cat <lora:style:1>|, night", by: -0.1).text == "a cat <lora:style:0.9>|, night")
        #expect(Self.adjust("<lora:st|yle:0.8> x", by: 0.1).text == "<lora:st|yle:0.9> x")
        #expect(Self.adjust("|<lora:style:0.8>", by: 0.1).text == "|<lora:style:0.9>")
        #expect(Self.adjust("<lora:style:0.8|>", by: 0.1).text == "<lora:style:0.9|>")
        #expect(Self.adjust("<lora:style:0.85>|", by: 0.1).text == "<lora:style:0.95>|")
        #expect(Self.adjust("<lora:style:1.95>|", by: 0.1).text == "<lora:style:2.05>|")
        // No weight is 1; spaces around it are read and dropped.
        #expect(Self.adjust("<lora:style>|", by: 0.1).text == "<lora:style:1.1>|")
        #expect(Self.adjust("<lora:style: 0.5 >|", by: -0.1).text == "<lora:style:0.4>|")
        // Only the number is rewritten: the type's spelling and the name's spaces stay.
        #expect(Self.adjust("<LORA: style :1>|", by: 0.1).text == "<LORA: style :1.1>|")
        #expect(Self.adjust("<lyco:style:0.5>|", by: 0.1).text == "<lyco:style:0.6>|")
        #expect(Self.adjust("<lora:st|yle>", by: -0.1).text == "<lora:st|yle:0.9>")
        #expect(Self.adjust("<lora:style:0.|5>", by: 0.1).text == "<lora:style:0.|6>")
        #expect(Self.adjust("<lora:style:0.5|5>", by: 0.1).text == "<lora:style:0.6|5>")
        #expect(Self.adjust("<lora:style:9.95|>", by: 0.1).text == "<lora:style:10.05|>")
        // Through zero to negative weights and back.
        #expect(Self.adjust("<lora:style:0.1>|", by: -0.1).text == "<lora:style:0>|")
        #expect(Self.adjust("<lora:style:0>|", by: -0.1).text == "<lora:style:-0.1>|")
        #expect(Self.adjust("<lora:style:-0.05>|", by: -0.1).text == "<lora:style:-0.15>|")
        #expect(Self.adjust("<lora:style:-1>|", by: 0.1).text == "<lora:style:-0.9>|")
        #expect(Self.adjust("<lora:style:-0.1>|", by: 0.1).text == "<lora:style:0>|")
        // Two tags side by side: the one starting at the cursor, else the one ending there.
        #expect(Self.adjust("<lora:a:1>|<lora:b:1>", by: 0.1).text == "<lora:a:1>|<lora:b:1.1>")
        #expect(Self.adjust("<lora:a:1><lora:b:1>|", by: 0.1).text == "<lora:a:1><lora:b:1.1>|")
        #expect(Self.adjust("<lora:a:1> |<lora:b:1>", by: 0.1).text == "<lora:a:1> |<lora:b:1.1>")
        // Names keep their text (spaces, dots, unicode).
        #expect(Self.adjust("<lora:my style v2.0 ☃:1>|", by: 0.1).text == "<lora:my style v2.0 ☃:1.1>|")
        if case .success(let tag) = Self.adjust("x <lora:a:1>|", by: 0.1).result {
            #expect(tag == LoraTag(range: 2..<14, name: "a", weight: 1.1, weightRange: 10..<13))
        } else {
            Issue.record("no tag")
        }
    }

    @Test func malformedTagsAreLeftAlone() {
        let cases: [(String, LoraTag.Problem)] = [
            ("a cat|", .noTag),
            ("a <lora:style:1> cat|", .noTag),
            ("<lora:style:1|", .noTag),
            ("<lora:style:1\n>|", .noTag),
            ("<hypernet:style:1>|", .notLoRA("<hypernet:style:1>")),
            ("<loras:style:1>|", .notLoRA("<loras:style:1>")),
            ("<lora>|", .notLoRA("<lora>")),
            ("<lora:style:heavy>|", .malformed("<lora:style:heavy>")),
            ("<lora:style:inf>|", .malformed("<lora:style:inf>")),
            ("<lora:style:>|", .malformed("<lora:style:>")),
            ("<lora::1>|", .malformed("<lora::1>")),
            ("<lora: :1>|", .malformed("<lora: :1>")),
            ("<lora:style:0.5:0.8>|", .severalWeights("<lora:style:0.5:0.8>")),
            ("<lora:style:1:unet=0.5>|", .severalWeights("<lora:style:1:unet=0.5>")),
            ("<lora:style:te=0.5>|", .severalWeights("<lora:style:te=0.5>")),
        ]
        for (text, problem) in cases {
            let (after, result) = Self.adjust(text, by: 0.1)
            #expect(after == text && result == .failure(problem), "\(text)")
        }
    }

    @Test func theKeysAdjustTheFocusedEditorAndSaySo() {
        var state = StudioState(modelName: "m", width: 64, height: 64)
        state.prompt.text = "a cat <lora:style:0.7>"
        Self.press([.alt("="), .alt("+")], &state)
        #expect(state.prompt.text == "a cat <lora:style:0.9>" && state.status == "style: weight 0.9.")
        Self.press([.alt("-")], &state)
        #expect(state.prompt.text == "a cat <lora:style:0.8>")
        state.prompt.text = "a cat <lora:style:0.7:0.2>"
        Self.press([.alt("=")], &state)
        #expect(state.prompt.text == "a cat <lora:style:0.7:0.2>" && state.statusKind == .warning)
        #expect(state.status == "<lora:style:0.7:0.2> has more than one weight or named ones: change them by typing.")
        state.prompt.text = "a cat"
        Self.press([.alt("=")], &state)
        #expect(state.status == "Put the cursor on a <lora:NAME:WEIGHT> tag to change its weight (F7: the LoRA list).")
        Self.press([.tab], &state)
        state.negative.text = "<lora:bad:1>"
        Self.press([.alt("-")], &state)
        #expect(state.negative.text == "<lora:bad:0.9>" && state.prompt.text == "a cat")
        // Outside the editors the keys do nothing.
        state.focus = .image
        Self.press([.alt("-")], &state)
        #expect(state.negative.text == "<lora:bad:0.9>")
    }

    /// The keys are in the docs as well as in the help.
    @Test func theNewKeysAreDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for file in ["README.md", "docs/STUDIO.md"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for key in ["F6", "F7", "Alt-=", "Alt--"] { #expect(text.contains(key), "\(key) not in \(file)") }
        }
    }
}
