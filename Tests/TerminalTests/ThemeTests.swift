import Foundation
import Testing
@testable import Terminal

@Suite struct ThemeTests {
    static let themes = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("themes")

    @Test func bundledThemesLoadCompletely() throws {
        #expect(Theme.available(in: Self.themes) == ["dark", "high-contrast", "light"])
        for name in Theme.available(in: Self.themes) {
            let theme = try Theme.load(named: name, from: Self.themes)
            #expect(theme.name == name)
            #expect(theme.colors.count == Theme.Role.allCases.count)
        }
    }

    /// Text must stay readable: WCAG contrast ratio of text on background at least 7 in every theme.
    @Test func textContrastIsHigh() throws {
        for name in Theme.available(in: Self.themes) {
            let theme = try Theme.load(named: name, from: Self.themes)
            #expect(contrast(theme[.text], theme[.background]) >= 7, "\(name)")
            #expect(contrast(theme[.statusText], theme[.statusBackground]) >= 7, "\(name)")
        }
    }

    /// A FIFO named as a theme file is refused at once, not waited on (issue 12, finding 6).
    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-theme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("pipe.toml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var message = "" }
        let box = Box()
        Thread.detachNewThread {
            do { _ = try Theme.load(named: "pipe", from: folder) } catch { box.message = "\(error)" }
            done.signal()
        }
        let finished = done.wait(timeout: .now() + 5) == .success
        if !finished {  // unblock the reader so the test fails instead of hanging
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            _ = done.wait(timeout: .now() + 5)
        }
        #expect(finished, "Theme.load blocked on a FIFO")
        #expect(box.message == "\(fifo): is not a regular file (a FIFO)")
    }

    @Test func errorsNameFileLineAndProblem() {
        #expect(throws: Theme.ParseError(description: "t.toml:2: text must be a colour like \"#1e1f29\", not \"white\"")) {
            try Theme(parsing: "name = \"t\"\ntext = \"white\"", source: "t.toml")
        }
        #expect(throws: Theme.ParseError.self) { try Theme(parsing: "txet = \"#ffffff\"", source: "t.toml") }
        #expect(throws: Theme.ParseError.self) { try Theme(parsing: "name = \"only a name\"", source: "t.toml") }
        #expect(throws: Theme.ParseError.self) { try Theme.load(named: "nope", from: Self.themes) }
    }

    private func contrast(_ a: Theme.Color, _ b: Theme.Color) -> Double {
        func luminance(_ c: Theme.Color) -> Double {
            func channel(_ v: UInt8) -> Double {
                let s = Double(v) / 255
                return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
            }
            return 0.2126 * channel(c.red) + 0.7152 * channel(c.green) + 0.0722 * channel(c.blue)
        }
        let (la, lb) = (luminance(a), luminance(b))
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }
}
