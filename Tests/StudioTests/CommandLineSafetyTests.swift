import Foundation
import Imaging
import Testing

/// `stipple info`, `generate --from` and the config file, through the real binary (issue 12):
/// texts from files reach the terminal with their control characters escaped (finding 8), info
/// reads a PNG's chunks without decoding its pixels, and config.toml problems are reported once,
/// naming the file (finding 7). Needs the release binary that `scripts/test` builds.
@Suite struct CommandLineSafetyTests {
    static let binary = StudioEndToEndTests.binary

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with `arguments` in `folder` (its config home is `folder/config`), standard
    /// input empty; killed after 60 s. With `signal`, that signal is sent once standard error
    /// contains `marker` (a run interrupted mid-way).
    static func run(_ arguments: [String], in folder: URL, signal: Int32? = nil,
                    after marker: String = "step 1/") throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = folder.appendingPathComponent("config").path
        environment["XDG_CACHE_HOME"] = folder.appendingPathComponent("cache").path
        process.environment = environment
        let out = folder.appendingPathComponent("stdout"), err = folder.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var signalled = signal == nil
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            if !signalled, let signal, (try? String(contentsOf: err, encoding: .utf8))?.contains(marker) == true {
                kill(process.processIdentifier, signal)
                signalled = true
            }
        }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                   stderr: try String(contentsOf: err, encoding: .utf8))
    }

    static func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("config/stipple"), withIntermediateDirectories: true)
        return folder
    }

    /// Terminal controls a hostile PNG text could carry: OSC 52 (clipboard), OSC 0 (title),
    /// clear screen, a bell, CSI as the single C1 character U+009B.
    static let hostile = "\u{1B}]52;c;ZXZpbA==\u{07}\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m"

    static func hasRawControls(_ text: String) -> Bool {
        text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value) }
    }

    @Test func infoEscapesTextsAndNeverDecodesPixels() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 16384x16384 RGBA (1 GB of pixels) whose image data is not even valid zlib: only a
        // header-only read can answer, and the parameters come after the image data.
        let parameters = "a cat\(Self.hostile)\nsecond line\twith a tab\nNegative prompt: dull\(Self.hostile)\n"
            + "Steps: 20, Sampler: Euler\(Self.hostile), Seed: 7"
        let png = PNGChunks.file(width: 16384, height: 16384, before: [], imageData: [1, 2, 3, 4],
                                 after: [PNGChunks.text("parameters", parameters)])
        let path = folder.appendingPathComponent("hostile.png")
        try png.write(to: path)
        let result = try Self.run(["info", path.path], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!Self.hasRawControls(result.stdout), "\(result.stdout.debugDescription)")
        let escaped = #"\e]52;c;ZXZpbA==\x07\e]0;owned\x07\e[2J\u{9b}31m"#
        #expect(result.stdout == """
            Prompt: a cat\(escaped)
            second line\twith a tab
            Negative prompt: dull\(escaped)
            Steps:   20
            Sampler: Euler\(escaped)
            Seed:    7
            Found in: PNG tEXt

            """)
        let json = try Self.run(["info", "--json", path.path], in: folder)
        #expect(json.status == 0 && json.stdout.contains(#""width" : 16384"#) && !Self.hasRawControls(json.stdout))
        // Still JSON, with the same texts (JSON leaves C1 controls raw; they are \u escapes here).
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["prompt"] as? String) == "a cat\(Self.hostile)\nsecond line\twith a tab", "\(json.stdout)")
    }

    @Test func errorsAndWarningsQuotingFilesAreEscaped() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A file name with a clear-screen in it, in an error message.
        let named = folder.appendingPathComponent("x\u{1B}[2J.png")
        try Data("not a png".utf8).write(to: named)
        let info = try Self.run(["info", named.path], in: folder)
        #expect(info.status != 0 && info.stderr.contains(#"x\e[2J.png"#) && !Self.hasRawControls(info.stderr), "\(info.stderr.debugDescription)")
        // generate --from: the warnings quote the PNG's RNG field.
        let parameters = "a red square\nSteps: 1, Sampler: Euler, Seed: 3, Size: 64x64, RNG: \(Self.hostile)"
        let png = try PNG.encode(RGBImage(width: 8, height: 8), texts: [PNGText(key: "parameters", value: parameters)])
        let from = folder.appendingPathComponent("from.png")
        try Data(png).write(to: from)
        let generate = try Self.run(["generate", "--from", from.path, "--output-dir", folder.appendingPathComponent("out").path],
                                    in: folder)
        #expect(generate.stderr.contains(#"the image used RNG \e]52;C;ZXZPBA==\x07\e]0;OWNED\x07\e[2J\u{9b}31M;"#),
                "\(generate.stderr.debugDescription)")
        #expect(!Self.hasRawControls(generate.stderr), "\(generate.stderr.debugDescription)")
    }

    @Test func configProblemsAreReportedOnceNamingTheFile() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config/stipple/config.toml")
        try Data("ouput_dir = \"/tmp/x\"\n".utf8).write(to: config)
        // The default model and the output folder both come from the config: read once, one warning.
        let warned = try Self.run(["generate", "-p", "a red square", "--steps", "1"], in: folder)
        #expect(warned.status == 0, "\(warned.stderr)")
        let warnings = warned.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings == [#"stipple: warning: \#(config.path): unknown key "ouput_dir" (known: backend, embeddings_dir, lora_dir, model, output_dir, styles_file, theme, vae_tiling, weight_type)"#])
        #expect(StudioEndToEndTests.pngs(in: folder.appendingPathComponent("outputs")).count == 1)

        try Data("output_dir = \"out\"\nmodel = /unquoted\n".utf8).write(to: config)
        let broken = try Self.run(["generate", "-p", "a red square", "--steps", "1"], in: folder)
        #expect(broken.status != 0)
        let lines = broken.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("\(config.path): line 2, column "), "\(broken.stderr)")
    }
}

/// Hand-made PNG files: chunks with their CRCs, in any order.
enum PNGChunks {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    /// A tEXt chunk when `value` fits Latin-1, else iTXt.
    static func text(_ key: String, _ value: String) -> [UInt8] {
        if let latin1 = value.data(using: .isoLatin1) { return chunk("tEXt", Array(key.utf8) + [0] + Array(latin1)) }
        return chunk("iTXt", Array(key.utf8) + [0, 0, 0, 0, 0] + Array(value.utf8))
    }

    /// An 8-bit RGBA PNG of the given size with `imageData` as its only IDAT.
    static func file(width: UInt32, height: UInt32, before: [[UInt8]], imageData: [UInt8], after: [[UInt8]]) -> Data {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        bytes += chunk("IHDR", bigEndian(width) + bigEndian(height) + [8, 6, 0, 0, 0])
        for text in before { bytes += text }
        bytes += chunk("IDAT", imageData)
        for text in after { bytes += text }
        bytes += chunk("IEND", [])
        return Data(bytes)
    }
}
