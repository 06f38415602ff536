import Diffusion
import Foundation
import Testing
@testable import Remote

/// The recorded ComfyUI 0.8.0 exchanges (Fixtures/comfyui, see its README), read for tests.
struct ComfyUIFixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/comfyui")

    let exchanges: [[String: Any]]

    static func load(_ name: String) throws -> ComfyUIFixture {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return ComfyUIFixture(exchanges: try #require(object["exchanges"] as? [[String: Any]]))
    }

    /// The graphs POSTed to /prompt, in order.
    var postedPrompts: [[String: Any]] {
        exchanges.filter { $0["path"] as? String == "/prompt" && $0["method"] as? String == "POST" }
            .compactMap { ($0["request_json"] as? [String: Any])?["prompt"] as? [String: Any] }
    }

    /// The prompt ids the server gave, in order.
    var promptIDs: [String] {
        exchanges.filter { $0["path"] as? String == "/prompt" && $0["method"] as? String == "POST" }
            .compactMap { ($0["body_json"] as? [String: Any])?["prompt_id"] as? String }
    }

    enum Frame { case text(String), binary([UInt8]) }

    /// Every frame of the first WebSocket exchange.
    var frames: [Frame] {
        guard let socket = exchanges.first(where: { $0["websocket"] != nil })?["websocket"] as? [[String: Any]] else { return [] }
        return socket.compactMap { frame in
            if let text = frame["text"] as? String { return .text(text) }
            if let base64 = frame["binary_base64"] as? String, let data = Data(base64Encoded: base64) { return .binary([UInt8](data)) }
            return nil
        }
    }

    /// The frames parsed (throws on the first that does not parse).
    func messages() throws -> [ComfyUIMessage] {
        try frames.map { frame throws(ComfyUIMessageError) in
            switch frame {
            case .text(let text): try ComfyUIMessage.parse(text: text)
            case .binary(let bytes): try ComfyUIMessage.parse(binary: bytes)
            }
        }
    }

    /// ComfyUI 0.8.0's sampler and scheduler names (catalog.json's /object_info/KSampler).
    static func samplerNames() throws -> (samplers: [String], schedulers: [String]) {
        let catalog = try load("catalog.json")
        let reply = try #require(catalog.exchanges.first { $0["path"] as? String == "/object_info/KSampler" }?["body_json"] as? [String: Any])
        let required = try #require(((reply["KSampler"] as? [String: Any])?["input"] as? [String: Any])?["required"] as? [String: Any])
        let samplers = try #require((required["sampler_name"] as? [Any])?.first as? [String])
        let schedulers = try #require((required["scheduler"] as? [Any])?.first as? [String])
        return (samplers, schedulers)
    }
}

@Suite struct ComfyUIMessageTests {
    static let recorded = ["txt2img.json", "txt2img_no_preview.json", "txt2img_ancestral_batch.json", "img2img.json", "lora.json",
                           "interrupt.json", "execution_error.json", "probes.json"]

    @Test(arguments: recorded)
    func everyRecordedFrameParses(file: String) throws {
        let messages = try ComfyUIFixture.load(file).messages()
        #expect(!messages.isEmpty)
        guard case .status(_, let sid)? = messages.first else {
            Issue.record("\(file): the first frame is not status")
            return
        }
        #expect(sid != nil, "the connect status names the client id")
    }

    @Test func txt2imgFramesReadAsRecorded() throws {
        let fixture = try ComfyUIFixture.load("txt2img.json")
        let id = try #require(fixture.promptIDs.first)
        let messages = try fixture.messages()
        #expect(messages.contains(.executionStart(promptID: id)))
        #expect(messages.contains(.executionCached(promptID: id, nodes: [])))
        #expect(messages.contains(.executing(promptID: id, node: "8")))
        #expect(messages.contains(.executing(promptID: id, node: nil)))
        #expect(messages.contains(.executionSuccess(promptID: id)))
        #expect(messages.contains(.executed(promptID: id, node: "9", images: [ComfyUIFile(filename: "stipple_00001_.png", subfolder: "", type: "output")])))
        let progress = messages.compactMap { message -> Int? in
            if case .progress(id?, "3"?, let value, 4) = message { return value }
            return nil
        }
        #expect(progress == [1, 2, 3, 4])
        let previews = messages.compactMap { message -> ComfyUIMessage.Preview? in
            if case .preview(let preview) = message { return preview }
            return nil
        }
        #expect(previews.count == 4 && previews.allSatisfy { $0.format == .jpeg && $0.promptID == nil && $0.bytes.starts(with: [0xFF, 0xD8]) })
        #expect(messages.contains(.other(type: "progress_state")))
    }

    @Test func executionErrorKeepsTheMessageNotTheTraceback() throws {
        let messages = try ComfyUIFixture.load("execution_error.json").messages()
        let error = try #require(messages.first { if case .executionError = $0 { true } else { false } })
        guard case .executionError(_, let node, let type, let message) = error else { return }
        #expect(node == "12" && type == "LoraLoader")
        let line = ComfyUIJob.failureLine(nodeType: type, message: message)
        #expect(line == "LoraLoader failed: Error while deserializing header: header too large")
    }

    @Test func failureLineIsOneSafeBoundedLine() {
        let line = ComfyUIJob.failureLine(nodeType: "Bad\u{1B}[31mNode", message: "\n\n  first \u{07}line\nTraceback: /srv/secret/path.py\n")
        #expect(line.hasPrefix("Bad") && line.contains("Node failed: first ") && line.hasSuffix("line"))
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 })
        #expect(!line.contains("\n") && !line.contains("secret"))
        let long = ComfyUIJob.failureLine(nodeType: nil, message: String(repeating: "x", count: 10_000))
        #expect(long.count <= ComfyUIJob.maximumMessageLength)
        #expect(ComfyUIJob.failureLine(nodeType: nil, message: "") == "no message")
    }

    @Test func malformedTextFramesAreErrors() {
        let frames = [
            "", "not json", "[1, 2]", "{\"data\": {}}", "{\"type\": 5}",
            "{\"type\": \"progress\", \"data\": {\"value\": \"a\", \"max\": 4}}",
            "{\"type\": \"progress\", \"data\": {\"value\": 1.5, \"max\": 4}}",
            "{\"type\": \"progress\", \"data\": {\"value\": 1e300, \"max\": 4}}",
            "{\"type\": \"executing\", \"data\": {\"node\": {\"a\": 1}}}",
            "{\"type\": \"executing\"}",
            "{\"type\": \"execution_start\", \"data\": {}}",
            "{\"type\": \"execution_start\", \"data\": {\"prompt_id\": \"" + String(repeating: "x", count: 1000) + "\"}}",
            "{\"type\": \"executed\", \"data\": {\"prompt_id\": \"p\"}}",
            String(repeating: "[", count: 100_000),
            "{\"type\": \"status\", \"pad\": \"" + String(repeating: "x", count: ComfyUIMessage.maximumTextBytes) + "\"}",
        ]
        for frame in frames {
            let error = #expect(throws: ComfyUIMessageError.self, "\(frame.prefix(60))") { try ComfyUIMessage.parse(text: frame) }
            #expect(error?.description.contains("\n") == false)
        }
        // Unknown types and odd but readable fields are not errors.
        #expect((try? ComfyUIMessage.parse(text: "{\"type\": \"crystools.monitor\", \"data\": 5}")) == .other(type: "crystools.monitor"))
        #expect((try? ComfyUIMessage.parse(text: "{\"type\": \"status\", \"data\": null}")) == .status(queueRemaining: nil, sid: nil))
    }

    @Test func malformedBinaryFramesAreErrors() {
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0]
        let bad: [[UInt8]] = [
            [], [0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 9] + jpeg, [0, 0, 0, 99] + jpeg,
            [0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF] + jpeg, [0, 0, 0, 4, 0, 0, 0, 2, 0x7B, 0x7D] + jpeg,
            [0, 0, 0, 4, 0, 0, 0, 3, 0x7B, 0x7D, 0x7D] + jpeg,
        ]
        for frame in bad {
            #expect(throws: ComfyUIMessageError.self, "\(frame)") { try ComfyUIMessage.parse(binary: frame) }
        }
        let metadata = Array("{\"prompt_id\": \"p1\", \"image_type\": \"image/jpeg\"}".utf8)
        let withMetadata = [0, 0, 0, 4] + withUInt32(metadata.count) + metadata + jpeg
        #expect((try? ComfyUIMessage.parse(binary: withMetadata)) == .preview(.init(format: .jpeg, bytes: jpeg, promptID: "p1")))
        #expect((try? ComfyUIMessage.parse(binary: [0, 0, 0, 1, 0, 0, 0, 2, 1])) == .preview(.init(format: .png, bytes: [1], promptID: nil)))
    }

    func withUInt32(_ value: Int) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// Every recorded frame with bytes flipped or cut parses or fails with an error: never a trap.
    @Test func damagedRecordedFramesNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        for file in ["txt2img_ancestral_batch.json", "execution_error.json"] {
            for frame in try ComfyUIFixture.load(file).frames {
                var bytes: [UInt8]
                switch frame {
                case .text(let text): bytes = Array(text.utf8)
                case .binary(let data): bytes = data
                }
                for _ in 0..<20 {
                    var damaged = bytes
                    if damaged.isEmpty { continue }
                    for _ in 0..<3 { damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
                    damaged = Array(damaged.prefix(Int.random(in: 0...damaged.count, using: &generator)))
                    _ = try? ComfyUIMessage.parse(binary: damaged)
                    if let text = String(bytes: damaged, encoding: .utf8) { _ = try? ComfyUIMessage.parse(text: text) }
                    if case .binary(let image) = frame {
                        var job = ComfyUIJob(promptID: "p", imageIndex: 0, imageCount: 1, seed: 0, steps: 1, decodeNodes: [], expectsPreviews: true)
                        _ = job.handle(.progress(promptID: "p", node: "3", value: 1, max: 1), now: 0)
                        _ = job.handle(.preview(.init(format: .jpeg, bytes: Array(damaged.dropFirst(8)), promptID: nil)), now: 0)
                        _ = image
                    }
                }
            }
        }
    }
}
