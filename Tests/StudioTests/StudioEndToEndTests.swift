import Diffusion
import Foundation
import Imaging
import Testing

/// The real `stipple` binary in a real terminal (tmux, on its own server socket), driven the way a
/// person would: type a prompt, Enter, wait for the saved PNG and check its parameters; change the
/// steps in the parameter panel and cancel a run with Esc; resize (also below the minimum);
/// Ctrl-Q; then check the exit status and that the terminal is back in its normal mode.
/// Needs tmux (scripts/packages.sh installs it) and the release binary that `scripts/test` builds.
@Suite(.serialized) struct StudioEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The release binary scripts/test builds; STIPPLE_BINARY names another (tools/sanitize.sh
    /// points it at the sanitizer build's, so the studio runs instrumented too).
    static let binary = ProcessInfo.processInfo.environment["STIPPLE_BINARY"]
        ?? root.appendingPathComponent(".build/release/stipple").path
    static let model = root.appendingPathComponent("Tests/DiffusionTests/Fixtures/pipelines/sd1").path
    /// The studio with a deliberate runtime error after its first frame (Tests/StudioTrapHarness),
    /// built next to the binary.
    static let trapHarness = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("StudioTrapHarness").path

    /// tmux on a private socket.
    struct Tmux {
        let socket = "stipple-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        /// Runs a tmux command and returns what it printed. Spawned with posix_spawn and waited
        /// for with waitpid; its output goes through a file, not a pipe, since the tmux server that
        /// the first command starts would keep a pipe open for ever.
        @discardableResult
        func run(_ arguments: [String]) throws -> String {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-\(UUID().uuidString).out")
            defer { try? FileManager.default.removeItem(at: file) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            let argv = (["tmux", "-L", socket] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            // The test runner's threads block some signals; tmux and the studio must start clean.
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attributes, &empty)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
            var pid: pid_t = 0
            let spawned = posix_spawnp(&pid, "tmux", &actions, &attributes, argv, environ)
            guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOENT) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        }

        func screen() throws -> String { try run(["capture-pane", "-p", "-t", "studio"]) }

        /// Waits (up to `seconds`) until `condition` holds; returns whether it did.
        func wait(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return try condition()
        }
    }

    static func pngs(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
    }

    @Test func typeGenerateCancelResizeAndQuit() throws {
        guard Self.binaryIsBuilt() else { return }
        let session = try Session()
        defer { session.close() }
        let (tmux, outputs) = (session.tmux, session.outputs)

        try session.start(steps: 8, columns: 100, rows: 30)
        #expect(try tmux.wait(seconds: 60) { try tmux.screen().contains("Parameters") }, "the studio did not start")

        // Type a prompt and generate: a PNG with the parameters appears.
        try tmux.run(["send-keys", "-t", "studio", "-l", "a red house by the sea"])
        try tmux.run(["send-keys", "-t", "studio", "Enter"])
        #expect(tmux.wait(seconds: 60) { Self.pngs(in: outputs).count == 1 }, "no image was saved")
        let saved = try #require(Self.pngs(in: outputs).first)
        let parameters = try #require(try PNG.read(path: outputs.appendingPathComponent(saved).path).text("parameters"))
        #expect(parameters.hasPrefix("a red house by the sea\nSteps: 8, Sampler: PLMS, CFG scale: 7, Seed: "))
        #expect(parameters.contains("Size: 32x32") && parameters.contains("Model: sd1") && parameters.contains("RNG: CPU"))
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Saved ") })

        // 900 steps (the most is the model's 1000), then Esc: the run is cancelled and nothing is saved.
        try tmux.run(["send-keys", "-t", "studio", "BTab"])  // focus: image
        try tmux.run(["send-keys", "-t", "studio", "BTab"])  // focus: parameters
        for key in ["Down", "Down", "Down", "9", "0", "0", "Enter", "Tab", "Tab"] {
            try tmux.run(["send-keys", "-t", "studio", key])
        }
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Steps      900") })
        try tmux.run(["send-keys", "-t", "studio", "Enter"])
        #expect(try tmux.wait(seconds: 30) { try tmux.screen().contains("it/s") }, "the second run did not start")
        try tmux.run(["send-keys", "-t", "studio", "Escape"])
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Cancelled") }, "Esc did not cancel")
        #expect(Self.pngs(in: outputs).count == 1)

        // Resize: the layout follows; below the minimum, a message; back again, the studio.
        try tmux.run(["resize-window", "-t", "studio", "-x", "70", "-y", "24"])
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Parameters") })
        try tmux.run(["resize-window", "-t", "studio", "-x", "50", "-y", "12"])
        let small = try tmux.wait(seconds: 10) { try tmux.screen().contains("terminal too small") }
        #expect(small, "\((try? tmux.screen()) ?? "")")
        try tmux.run(["resize-window", "-t", "studio", "-x", "100", "-y", "30"])
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Parameters") })
        // A resize while a run is going.
        try tmux.run(["send-keys", "-t", "studio", "Enter"])
        #expect(try tmux.wait(seconds: 30) { try tmux.screen().contains("it/s") })
        try tmux.run(["resize-window", "-t", "studio", "-x", "80", "-y", "26"])
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Parameters") })

        // Ctrl-Q: exit status 0, the screen cleared, the terminal back in cooked mode with echo.
        try tmux.run(["send-keys", "-t", "studio", "C-q"])
        let ended = session.ended()
        #expect(ended.status == "0" && ended.cooked)
        #expect(try !tmux.screen().contains("Parameters"))
    }

    /// Whether the release binary is there (scripts/test builds it); records an issue when not.
    static func binaryIsBuilt() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("no \(binary): run the suite with scripts/test, which builds it")
            return false
        }
        return true
    }

    /// One test's scratch folder and tmux server.
    struct Session {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-e2e-" + UUID().uuidString)
        let tmux = Tmux()
        var outputs: URL { work.appendingPathComponent("outputs") }

        init() throws {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        }

        func close() {
            _ = try? tmux.run(["kill-server"])
            try? FileManager.default.removeItem(at: work)
        }

        /// Starts the studio on the tiny pipeline in a tmux window; when it ends, its exit status
        /// goes to `exit-status` and `stty -a` to `stty-after` in the work folder.
        func start(binary: String = StudioEndToEndTests.binary, extra: String = "", steps: Int = 6, columns: Int = 110,
                   rows: Int = 32) throws {
            let script = """
                cd '\(work.path)' && XDG_CONFIG_HOME='\(work.path)' XDG_CACHE_HOME='\(work.path)' \
                '\(binary)' --model '\(StudioEndToEndTests.model)' --output-dir '\(outputs.path)' \
                --steps \(steps) -W 32 -H 32 --graphics truecolor \(extra); echo $? > exit-status; stty -a > stty-after; sleep 30
                """
            try tmux.run(["new-session", "-d", "-s", "studio", "-x", "\(columns)", "-y", "\(rows)", "bash", "-c", script])
        }

        /// Starts the studio for a long run (900 steps), waits for its screen and types `prompt`.
        func startTyping(_ prompt: String) throws {
            try start(steps: 900)
            #expect(try tmux.wait(seconds: 60) { try tmux.screen().contains("Parameters") }, "the studio did not start")
            try tmux.run(["send-keys", "-t", "studio", "-l", prompt])
        }

        /// Waits for the studio to end; its exit status and whether the tty is back in cooked mode with echo.
        func ended() -> (status: String?, cooked: Bool) {
            let status = work.appendingPathComponent("exit-status"), stty = work.appendingPathComponent("stty-after")
            _ = tmux.wait(seconds: 10) { FileManager.default.fileExists(atPath: status.path) }
            _ = tmux.wait(seconds: 5) {  // stty creates the file before it writes it
                ((try? String(contentsOf: stty, encoding: .utf8)) ?? "").contains("icanon")
            }
            let modes = (try? String(contentsOf: stty, encoding: .utf8)) ?? ""
            let cooked = modes.contains(" icanon") && modes.contains(" echo ") && !modes.contains("-icanon") && !modes.contains("-echo ")
            return ((try? String(contentsOf: status, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines), cooked)
        }
    }

    @Test func timelineScrubContactSheetGalleryAndLoadParameters() throws {
        guard Self.binaryIsBuilt() else { return }
        let session = try Session()
        defer { session.close() }
        let (tmux, outputs) = (session.tmux, session.outputs)
        try session.start()
        #expect(try tmux.wait(seconds: 60) { try tmux.screen().contains("Parameters") }, "the studio did not start")
        func send(_ keys: String...) throws { for key in keys { try tmux.run(["send-keys", "-t", "studio", key]) } }
        func literal(_ text: String) throws { try tmux.run(["send-keys", "-t", "studio", "-l", text]) }

        try literal("a green triangle")
        try send("Enter")
        #expect(tmux.wait(seconds: 60) { Self.pngs(in: outputs).count == 1 }, "no image was saved")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("final") })

        // The image pane: Home is step 1, Right step 2, d the noisy latent; Ctrl-S saves that step.
        try send("Tab", "Tab", "Tab", "Home")
        // (6 PLMS steps are 7 model calls: its warm-up step, as in diffusers.)
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("step 1/7 denoised") })
        try send("Right", "d")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("step 2/7 noisy") }, "\((try? tmux.screen()) ?? "")")
        try send("C-s")
        #expect(tmux.wait(seconds: 10) { Self.pngs(in: outputs).contains { $0.hasSuffix("-step2-noisy.png") } })
        // e: the contact sheet of the noisy latents, with the parameters.
        try send("e")
        #expect(tmux.wait(seconds: 10) { Self.pngs(in: outputs).contains { $0.hasSuffix("-timeline-noisy.png") } })
        let sheetName = try #require(Self.pngs(in: outputs).first { $0.hasSuffix("-timeline-noisy.png") })
        let sheet = try PNG.read(path: outputs.appendingPathComponent(sheetName).path)
        #expect(sheet.text("parameters")?.hasPrefix("a green triangle\nSteps: 6") == true, "\(sheet.text("parameters") ?? "")")
        #expect(sheet.text("parameters")?.contains("Contact sheet: noisy") == true)
        #expect(sheet.image.width > 3 * 128 && sheet.image.height > 2 * 128, "8 cells (7 steps + final) in a 3x3 grid")

        // F2: the gallery lists the images; l loads one's parameters into the controls.
        try send("F2")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Gallery (3)") }, "\((try? tmux.screen()) ?? "")")
        #expect(try tmux.screen().contains("a green triangle"))
        try send("End", "l")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Loaded the parameters") }, "\((try? tmux.screen()) ?? "")")
        let screen = try tmux.screen()
        #expect(screen.contains("│a green triangle") && screen.contains("Seed lock  locked"), "\(screen)")

        // The model field: type another model's path, Enter; it loads in the background.
        let sd2 = Self.root.appendingPathComponent("Tests/DiffusionTests/Fixtures/pipelines/sd2").path
        try send("Tab", "Tab", "Up")
        try literal(sd2)
        try send("Enter")
        #expect(try tmux.wait(seconds: 30) { try tmux.screen().contains("Loaded sd2") }, "\((try? tmux.screen()) ?? "")")
        #expect(try tmux.screen().contains("Model      \u{2039} sd2 (SD 2.x) \u{203A}"))
        // A contact sheet of the earlier run, saved after the switch, still names sd1, its model.
        try send("Tab", "e")
        #expect(tmux.wait(seconds: 10) { Self.pngs(in: outputs).filter { $0.hasSuffix("-timeline-noisy.png") }.count == 2 })
        for name in Self.pngs(in: outputs).filter({ $0.hasSuffix("-timeline-noisy.png") }) {
            let text = try PNG.read(path: outputs.appendingPathComponent(name).path).text("parameters") ?? ""
            #expect(text.contains("Model: sd1,"), "\(name): \(text)")
        }

        try send("C-q")
        #expect(session.ended().status == "0")
    }

    /// A Swift runtime error in our code path (the trap harness runs the studio with a hook that
    /// indexes an empty array right after its first frame): the process dies of the trap, and the terminal is back in
    /// cooked mode with echo, out of the alternate screen, cursor shown.
    /// Issue 16 in the real terminal: F7 lists the LoRA fixtures, Enter puts a tag at the cursor,
    /// Alt-= / Alt-- rewrite its weight, F6 sets the few-step preset (the panel shows it) and F6 puts
    /// the settings back; a generation with the preset saves an LCM image.
    @Test func loraListWeightKeysAndFewStepPreset() throws {
        guard Self.binaryIsBuilt() else { return }
        let session = try Session()
        defer { session.close() }
        let (tmux, outputs) = (session.tmux, session.outputs)
        let loras = Self.root.appendingPathComponent("Tests/DiffusionTests/Fixtures/lora/loras").path
        try session.start(extra: "--lora-dir '\(loras)'", columns: 120, rows: 40)
        #expect(try tmux.wait(seconds: 60) { try tmux.screen().contains("Parameters") }, "the studio did not start")
        func send(_ keys: String...) throws { for key in keys { try tmux.run(["send-keys", "-t", "studio", key]) } }

        try tmux.run(["send-keys", "-t", "studio", "-l", "a red house, sea"])
        try send("Left", "Left", "Left", "Left", "Left", "F7")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("LoRAs (11)") && tmux.screen().contains("sdxl_kohya_r4") })
        try send("End", "Enter")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("a red house <lora:sdxl_kohya_r4:1>, sea") })
        try send("M-=", "M-=", "M--")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("a red house <lora:sdxl_kohya_r4:1.1>, sea") },
                "\((try? tmux.screen()) ?? "")")
        try send("C-u", "C-k")
        try tmux.run(["send-keys", "-t", "studio", "-l", "a red house"])
        try send("F6")
        #expect(try tmux.wait(seconds: 10) {
            let screen = try tmux.screen()
            return screen.contains("Sampler    LCM") && screen.contains("Steps      4") && screen.contains("Few-step preset, LCM-LoRA")
        }, "\((try? tmux.screen()) ?? "")")
        try send("F6")
        #expect(try tmux.wait(seconds: 10) { try tmux.screen().contains("Steps      6") && tmux.screen().contains("Few-step preset off") })
        try send("F6", "Enter")
        #expect(tmux.wait(seconds: 60) { Self.pngs(in: outputs).count == 1 }, "no image was saved")
        let saved = try #require(Self.pngs(in: outputs).first)
        let parameters = try #require(try PNG.read(path: outputs.appendingPathComponent(saved).path).text("parameters"))
        #expect(parameters.hasPrefix("a red house\nSteps: 4, Sampler: LCM, CFG scale: 1, "), "\(parameters)")
        try send("C-q")
        #expect(session.ended().status == "0")
    }

    @Test func aRuntimeErrorStillRestoresTheTerminal() throws {
        guard Self.binaryIsBuilt() else { return }
        guard FileManager.default.isExecutableFile(atPath: Self.trapHarness) else {
            Issue.record("no \(Self.trapHarness): run the suite with scripts/test, which builds it")
            return
        }
        let session = try Session()
        defer { session.close() }
        let tmux = session.tmux
        try session.start(binary: Self.trapHarness)
        let ended = session.ended()
        let code = Int(ended.status ?? "") ?? 0
        #expect(code == 128 + Int(SIGILL) || code == 128 + Int(SIGTRAP), "exit status \(code): not the trap")
        #expect(ended.cooked)
        let screen = try tmux.screen()
        #expect(!screen.contains("Parameters"), "the studio's screen is still up: \(screen)")
        let cursorHidden = try tmux.run(["display-message", "-p", "-t", "studio", "#{cursor_flag}"])
        #expect(cursorHidden.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "cursor not shown")
    }

    /// Pause and Esc act as soon as a generation is submitted, not only from its first step's
    /// event (prompt encoding and img2img's VAE encode come first and take seconds on a full-size
    /// model): Ctrl-P right behind Enter holds the run before step 1, Esc cancels it, nothing is saved.
    @Test func pauseAndEscapeActBeforeTheFirstStep() throws {
        guard Self.binaryIsBuilt() else { return }
        let session = try Session()
        defer { session.close() }
        let tmux = session.tmux
        try session.startTyping("a lighthouse")
        try tmux.run(["send-keys", "-t", "studio", "Enter", "C-p"])
        #expect(try tmux.wait(seconds: 20) { try tmux.screen().contains("Paused") }, "not paused")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try !tmux.screen().contains("it/s"), "a step ran while paused")
        try tmux.run(["send-keys", "-t", "studio", "Escape"])
        #expect(try tmux.wait(seconds: 20) { try tmux.screen().contains("Cancelled") }, "not cancelled")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: session.outputs.path)) ?? []).filter { $0.hasSuffix(".png") }.isEmpty)
        try tmux.run(["send-keys", "-t", "studio", "C-q"])
        #expect(session.ended().status == "0")
    }

    /// SIGTERM (as `kill` sends) and Ctrl-C end the studio like Ctrl-Q: a running generation is
    /// cancelled and the terminal restored. Ctrl-C is the studio's quit key (exit status 0); a
    /// signal ends it with the shell's status for that signal (143 for SIGTERM).
    @Test(arguments: ["SIGTERM", "Ctrl-C"]) func terminationRestoresTheTerminal(how: String) throws {
        guard Self.binaryIsBuilt() else { return }
        let session = try Session()
        defer { session.close() }
        let tmux = session.tmux
        try session.startTyping("a lighthouse")
        try tmux.run(["send-keys", "-t", "studio", "Enter"])
        #expect(try tmux.wait(seconds: 30) { try tmux.screen().contains("it/s") }, "the run did not start")
        if how == "SIGTERM" {
            let pid = try tmux.run(["display-message", "-p", "-t", "studio", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
            // The pane runs bash, whose child is the studio.
            let children = try String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)
            let studio = try #require(children.split(separator: " ").first.flatMap { Int32($0) })
            #expect(kill(studio, SIGTERM) == 0)
        } else {
            try tmux.run(["send-keys", "-t", "studio", "C-c"])
        }
        let ended = session.ended()
        #expect(ended.status == (how == "SIGTERM" ? "143" : "0") && ended.cooked, "exit status \(ended.status ?? "none")")
        #expect(try !tmux.screen().contains("Parameters"))
    }
}
