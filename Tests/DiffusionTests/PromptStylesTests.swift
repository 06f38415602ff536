import Foundation
import Testing
@testable import Diffusion

/// A1111's styles.csv: the styles its StyleDatabase reads from a file its own save_styles wrote
/// (and from an old-format file written by hand), and what it makes of prompts with them:
/// Fixtures/prompts/styles.json, from tools/make_prompt_schedule_fixtures.py styles.
@Suite struct PromptStylesTests {
    struct Fixture: Decodable {
        struct Applied: Decodable {
            var file: String
            var styles: [String]
            var prompt: String
            var negative: String
            var result: [String]
        }
        var files: [String: [[String?]]]
        var applied: [Applied]
    }

    static let folder = CheckpointFixtures.root.appendingPathComponent("prompts")
    static let fixture: Fixture? = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("styles.json")) else { return nil }
        return try? JSONDecoder().decode(Fixture.self, from: data)
    }()

    @Test func readsWhatA1111Reads() throws {
        let fixture = try #require(Self.fixture)
        #expect(fixture.files.count == 2)
        for (name, expected) in fixture.files {
            let styles = try PromptStyles(path: Self.folder.appendingPathComponent(name).path).styles
            // A field a short row lacks is None in A1111 (which then fails applying it), "" here.
            #expect(styles.map { [$0.name, $0.prompt, $0.negativePrompt] } == expected.map { $0.map { $0 ?? "" } }, "\(name)")
        }
    }

    @Test func appliesAsA1111Does() throws {
        let fixture = try #require(Self.fixture)
        #expect(fixture.applied.count == 9)
        for item in fixture.applied {
            let styles = try PromptStyles(path: Self.folder.appendingPathComponent(item.file).path)
            let result = try styles.apply(item.styles, prompt: item.prompt, negative: item.negative)
            #expect([result.prompt, result.negative] == item.result, "\(item.styles) on \(item.prompt.debugDescription)")
        }
    }

    @Test func unknownStylesAndBadFilesAreOneLine() throws {
        let styles = try PromptStyles(csv: "name,prompt,negative_prompt\nCinematic,x,\ncinema,y,\nsharp,z,\n")
        #expect(throws: PromptStylesError.unknown("cinematc", close: ["Cinematic", "cinema"], count: 3)) {
            try styles.apply(["cinematc"], prompt: "a", negative: "")
        }
        let error = PromptStylesError.unknown("x\u{1B}]0;t\u{7}", close: [], count: 3)
        #expect(error.description == #"no style named "x\u{1b}]0;t\u{7}" among the 3 in the styles file"#)
        #expect(throws: PromptStylesError.noHeader) { try PromptStyles(csv: "") }
        #expect(throws: PromptStylesError.noNameColumn(["title", "prompt"])) { try PromptStyles(csv: "title,prompt\na,b\n") }
        #expect(throws: PromptStylesError.self) { try PromptStyles(path: "/nonexistent/styles.csv") }
        #expect(throws: PromptStylesError.self) { try PromptStyles(path: "/tmp") }
        // An unterminated quote runs to the end, as Python's csv reads it when not strict.
        #expect(try PromptStyles(csv: "name,prompt\na,\"b,\nc").styles == [.init(name: "a", prompt: "b,\nc", negativePrompt: "")])
    }
}
