import Foundation
import ShippedFiles
import Testing
@testable import Studio

/// stipple outside its checkout: `scripts/install --prefix` into a scratch folder, then the installed
/// binary generates with the bundled model and the studio starts (themes, model) and quits, run
/// from a folder unrelated to the checkout. The installed binary cannot reach the checkout's files:
/// none of the folders it searches lies in the checkout (see `ShippedFile`).
@Suite(.serialized) struct InstallTests {
    static let root = StudioEndToEndTests.root

    @Test func lookupOrderIsDataVariableNextToBinaryPrefixCheckout() {
        let binary = URL(fileURLWithPath: "/opt/x/bin/stipple")
        #expect(ShippedFile.themes.candidates(environment: ["STIPPLE_DATA": "/data"], executable: binary) == [
            "/data/themes", "/opt/x/bin/themes", "/opt/x/share/stipple/themes",
            "/opt/x/bin/themes", "/opt/x/themes", "/opt/themes", "/themes",
        ])
        let built = URL(fileURLWithPath: "/src/stipple/.build/x86_64-unknown-linux-gnu/release/stipple")
        let model = ShippedFile.bundledModel.candidates(environment: [:], executable: built)
        #expect(model.first == "/src/stipple/.build/x86_64-unknown-linux-gnu/release/models/shapes-64")
        #expect(model.contains("/src/stipple/samples/shapes-64"), "the checkout three folders above the binary's")
        #expect(ShippedFile.bundledModel.notFound(environment: [:], executable: binary).contains("/opt/x/share/stipple/models/shapes-64"))
    }

    @Test func anInstalledBinaryGeneratesAndStartsTheStudio() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-install-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let prefix = work.appendingPathComponent("prefix"), elsewhere = work.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere.appendingPathComponent("config"), withIntermediateDirectories: true)
        let install = try Self.run("/bin/bash", [Self.root.appendingPathComponent("scripts/install").path,
                                                 "--prefix", prefix.path, "--binary", StudioEndToEndTests.binary], in: work)
        #expect(install.status == 0, "\(install.stderr)")
        let installed = prefix.appendingPathComponent("bin/stipple").path
        for item in ["share/stipple/themes/dark.toml", "share/stipple/models/shapes-64/model_index.json",
                     "share/stipple/stipple_Diffusion.resources/bpe_simple_vocab_16e6.txt"] {
            #expect(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(item).path), "\(item)")
        }
        // Every bundled model, its links to the default model's VAE and tokenizer still right.
        let samples = Self.root.appendingPathComponent("samples")
        for name in try FileManager.default.contentsOfDirectory(atPath: samples.path)
        where FileManager.default.fileExists(atPath: samples.appendingPathComponent(name + "/model_index.json").path) {
            for part in ["model_index.json", "vae/config.json", "tokenizer/vocab.json", "unet/config.json"] {
                let path = prefix.appendingPathComponent("share/stipple/models/\(name)/\(part)").path
                #expect(FileManager.default.fileExists(atPath: path), "\(path)")
            }
        }

        // generate, on the bundled model found in PREFIX/share/stipple.
        let generate = try Self.run(installed, ["generate", "-p", "a yellow triangle in the center on a purple background",
                                                "--steps", "4", "--seed", "1", "--output-dir", "out"], in: elsewhere)
        #expect(generate.status == 0, "\(generate.stderr)")
        #expect(StudioEndToEndTests.pngs(in: elsewhere.appendingPathComponent("out")).count == 1)

        // The studio: themes and model from the prefix; its screen, then Ctrl-Q.
        let tmux = StudioEndToEndTests.Tmux()
        defer { _ = try? tmux.run(["kill-server"]) }
        let script = """
            cd '\(elsewhere.path)' && env -u STIPPLE_DATA XDG_CONFIG_HOME='\(elsewhere.path)/config' \
            XDG_CACHE_HOME='\(elsewhere.path)' '\(installed)' --graphics truecolor --output-dir out; \
            echo $? > exit-status; sleep 30
            """
        try tmux.run(["new-session", "-d", "-s", "studio", "-x", "100", "-y", "30", "bash", "-c", script])
        let status = elsewhere.appendingPathComponent("exit-status")
        _ = try tmux.wait(seconds: 60) {
            try tmux.screen().contains("Parameters") || FileManager.default.fileExists(atPath: status.path)  // up, or ended
        }
        let screen = try tmux.screen()
        let started = screen.contains("shapes-64") && screen.contains("Parameters")
        #expect(started, "the installed studio did not start: \(screen)")
        try tmux.run(["send-keys", "-t", "studio", "C-q"])
        _ = tmux.wait(seconds: 10) { ((try? String(contentsOf: status, encoding: .utf8)) ?? "").hasSuffix("\n") }
        #expect((try? String(contentsOf: status, encoding: .utf8)) == "0\n")
    }

    /// Runs `executable` with `arguments` in `folder`, STIPPLE_DATA unset, the config home
    /// `folder/config`; killed after 120 s.
    static func run(_ executable: String, _ arguments: [String], in folder: URL) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        environment["STIPPLE_DATA"] = nil
        environment["XDG_CONFIG_HOME"] = folder.appendingPathComponent("config").path
        process.environment = environment
        let err = folder.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
