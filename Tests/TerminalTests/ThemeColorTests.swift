import Foundation
import Testing
@testable import Terminal

/// Every shipped theme stays legible however many colours the terminal has: no role's text in
/// the colour of its own background, and the status bar and selection stand out from the screen.
@Suite struct ThemeColorTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("themes")

    @Test(arguments: ["dark", "light", "high-contrast"], [8, 256])
    func everyRoleIsLegible(theme name: String, colors: Int) throws {
        let theme = try Theme.load(named: name, from: Self.folder)
        let screen = CursesScreen.colors(for: .text, theme: theme, colorCount: colors).background
        for role in Theme.Role.allCases where role != .background {
            let (foreground, background) = CursesScreen.colors(for: role, theme: theme, colorCount: colors)
            #expect(foreground != background, "\(name), \(colors) colours: \(role) is \(foreground) on \(background)")
        }
        for role in [Theme.Role.statusBackground, .selection] {
            let background = CursesScreen.colors(for: role, theme: theme, colorCount: colors).background
            #expect(background != screen, "\(name), \(colors) colours: \(role) does not stand out from the screen")
        }
    }

    @Test func eightColourMappingKeepsDarkGreysVisibleAndLightThemesDark() throws {
        let dark = try Theme.load(named: "dark", from: Self.folder)
        // The dark theme's frame grey (#3d4150) on its near-black screen: white, not black.
        #expect(CursesScreen.colors(for: .border, theme: dark, colorCount: 8) == (7, 0))
        let light = try Theme.load(named: "light", from: Self.folder)
        // The light theme's pale frame and grey hints on its white screen: black.
        #expect(CursesScreen.colors(for: .border, theme: light, colorCount: 8) == (0, 7))
        #expect(CursesScreen.colors(for: .dimText, theme: light, colorCount: 8) == (0, 7))
        // Its pale status bar: reverse, white on black.
        #expect(CursesScreen.colors(for: .statusText, theme: light, colorCount: 8) == (7, 0))
    }
}
