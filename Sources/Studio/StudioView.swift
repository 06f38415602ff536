import Diffusion
import Foundation
import Terminal

/// A rectangle of cells.
public struct Rect: Equatable, Sendable {
    public var row: Int
    public var column: Int
    public var rows: Int
    public var columns: Int

    public init(row: Int, column: Int, rows: Int, columns: Int) {
        (self.row, self.column, self.rows, self.columns) = (row, column, rows, columns)
    }

    /// The inside of a one-cell frame.
    public var inner: Rect { Rect(row: row + 1, column: column + 1, rows: max(0, rows - 2), columns: max(0, columns - 2)) }
}

/// Where each part of the studio goes for a window size: a left column with the prompt,
/// negative prompt and parameter panels, the image pane on the right, a progress line and a
/// status line at the bottom.
public struct StudioLayout: Equatable, Sendable {
    /// Below this the studio shows only "terminal too small".
    public static let minimum = (rows: 20, columns: 60)

    public let rows: Int
    public let columns: Int
    public let prompt: Rect
    public let negative: Rect
    public let parameters: Rect
    public let image: Rect
    public let progress: Rect
    public let status: Rect

    public var isTooSmall: Bool { rows < Self.minimum.rows || columns < Self.minimum.columns }

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        let left = min(max(34, columns * 2 / 5), columns - 20)
        let body = max(0, rows - 3)  // title row, progress row, status row
        let parameterRows = min(ParameterPanel.Field.allCases.count + 2, max(6, body / 2))
        let textRows = max(0, body - parameterRows)
        let promptRows = max(3, textRows * 3 / 5)
        prompt = Rect(row: 1, column: 0, rows: promptRows, columns: left)
        negative = Rect(row: 1 + promptRows, column: 0, rows: max(3, textRows - promptRows), columns: left)
        parameters = Rect(row: negative.row + negative.rows, column: 0, rows: parameterRows, columns: left)
        image = Rect(row: 1, column: left, rows: body, columns: columns - left)
        progress = Rect(row: rows - 2, column: 0, rows: 1, columns: columns)
        status = Rect(row: rows - 1, column: 0, rows: 1, columns: columns)
    }
}

/// Draws `StudioState` on a `TextScreen`. The image pane's inside is left blank: the image is
/// written there by the caller after the screen is refreshed (sixel, kitty or half-blocks).
public struct StudioView {
    public init() {}

    /// Draws everything; returns the rectangle the image goes in (nil when too small).
    @discardableResult
    public func draw(_ state: StudioState, on screen: TextScreen) -> Rect? {
        let (rows, columns) = screen.size
        let layout = StudioLayout(rows: rows, columns: columns)
        screen.clear()
        guard !layout.isTooSmall else {
            let message = "terminal too small: \(columns)x\(rows), stipple needs \(StudioLayout.minimum.columns)x\(StudioLayout.minimum.rows)"
            screen.put(message, row: rows / 2, column: max(0, (columns - message.count) / 2), style: CellStyle(.warning))
            screen.cursor = nil
            return nil
        }
        screen.put(" stipple  \u{00B7}  \(state.modelName)", row: 0, column: 0, style: CellStyle(.accent, bold: true))
        screen.cursor = nil
        if state.focus == .gallery {
            let left = Rect(row: layout.prompt.row, column: 0, rows: layout.parameters.row + layout.parameters.rows - layout.prompt.row,
                            columns: layout.prompt.columns)
            drawGallery(state.gallery, in: left, on: screen)
        } else if state.focus == .loras, let list = state.loras {
            // The prompt stays in view with its cursor, where Enter puts the tag.
            drawEditor(state.prompt, title: "Prompt", in: layout.prompt, focused: false, cursor: true, on: screen)
            let below = Rect(row: layout.negative.row, column: 0, rows: layout.parameters.row + layout.parameters.rows - layout.negative.row,
                             columns: layout.negative.columns)
            drawLoraList(list, in: below, on: screen)
        } else if state.focus == .grid {
            drawEditor(state.prompt, title: "Prompt", in: layout.prompt, focused: false, on: screen)
            let below = Rect(row: layout.negative.row, column: 0, rows: layout.parameters.row + layout.parameters.rows - layout.negative.row,
                             columns: layout.negative.columns)
            drawGridLine(state, in: below, on: screen)
        } else if state.showPromptParse && state.focus == .prompt {
            // The prompt stays editable above its parse, which follows each key.
            drawEditor(state.prompt, title: "Prompt", in: layout.prompt, focused: state.focus == .prompt, on: screen)
            let below = Rect(row: layout.negative.row, column: 0, rows: layout.parameters.row + layout.parameters.rows - layout.negative.row,
                             columns: layout.negative.columns)
            drawPromptParse(state, in: below, on: screen)
        } else {
            drawEditor(state.prompt, title: "Prompt", in: layout.prompt, focused: state.focus == .prompt, on: screen)
            drawEditor(state.negative, title: "Negative prompt", in: layout.negative, focused: state.focus == .negative, on: screen)
            drawParameters(state.panel, in: layout.parameters, focused: state.focus == .parameters, on: screen)
        }
        frame(layout.image, title: Self.imageTitle(state), focused: state.focus == .image, on: screen)
        drawProgress(state, in: layout.progress, on: screen)
        drawStatus(state, in: layout.status, on: screen)
        if state.showHelp { drawHelp(state, in: layout, on: screen) }
        return layout.image.inner
    }

    /// The image pane's title: what is shown (step, latent, which generation, or the file).
    static func imageTitle(_ state: StudioState) -> String {
        if state.focus != .gallery, let title = state.paneTitle { return title }
        guard let shown = state.shownImage else {
            return state.focus == .gallery ? "Image \u{00B7} no image selected" : "Image"
        }
        switch shown.source {
        case .file(let url):
            return "Gallery \u{00B7} \(url.lastPathComponent)"
        case .picture(let title):
            return title
        case .timeline(let latent, let total):
            var parts = ["Image"]
            if state.viewingPrevious { parts.append("last generation") }
            if let step = shown.step {
                parts.append("step \(step)/\(total) \(latent == .denoised ? "denoised" : "noisy")")
                if state.frameIndex != nil { parts.append("\u{25C2}\u{25B8} scrubbing") }
            } else {
                parts.append("final")
            }
            if let seed = shown.seed { parts.append("seed \(seed)") }
            return parts.joined(separator: " \u{00B7} ")
        }
    }

    /// F11: the grid's axes line (an editor) over how to write them.
    func drawGridLine(_ state: StudioState, in rect: Rect, on screen: TextScreen) {
        let editorRows = min(4, max(3, rect.rows / 3))
        drawEditor(state.gridLine, title: "X/Y grid \u{00B7} Enter run \u{00B7} Esc close", in: Rect(row: rect.row, column: rect.column,
                   rows: editorRows, columns: rect.columns), focused: true, on: screen)
        let help = Rect(row: rect.row + editorRows, column: rect.column, rows: rect.rows - editorRows, columns: rect.columns)
        frame(help, title: "Axes", focused: false, on: screen)
        let inner = help.inner
        let lines = ["X axis, then | and a Y axis (optional):", "  NAME=V1,V2,...   NAME is one of"]
            + GridAxis.Kind.allCases.map { "  " + GridAxis.example($0) }
            + ["prompt=A,B,C: Prompt S/R, A is replaced", "by each value; every cell keeps the seed", "(unless seed is an axis). Esc cancels a run."]
        for (offset, line) in lines.prefix(inner.rows).enumerated() {
            screen.put(line, row: inner.row + offset, column: inner.column, style: CellStyle(.dimText), width: inner.columns)
        }
    }

    func drawGallery(_ gallery: Gallery, in rect: Rect, on screen: TextScreen) {
        frame(rect, title: "Gallery (\(gallery.entries.count)) \u{00B7} Enter open \u{00B7} l load", focused: true, on: screen)
        let inner = rect.inner
        guard inner.rows > 0, inner.columns > 0 else { return }
        guard !gallery.entries.isEmpty else {
            screen.put("No images yet in \(gallery.folder.path)", row: inner.row, column: inner.column,
                       style: CellStyle(.dimText), width: inner.columns)
            return
        }
        let first = max(0, min(gallery.selected - inner.rows / 2, gallery.entries.count - inner.rows))
        let now = Date()
        for (offset, entry) in gallery.entries.dropFirst(first).prefix(inner.rows).enumerated() {
            let index = first + offset
            let style = index == gallery.selected ? CellStyle(.selection, bold: true) : CellStyle(.text)
            let line = Gallery.line(for: entry, now: now)
            screen.put(line.padding(toLength: max(inner.columns, 0), withPad: " ", startingAt: 0),
                       row: inner.row + offset, column: inner.column, style: style, width: inner.columns)
        }
    }

    /// The LoRA list: names (escaped) and sizes, the chosen one highlighted, scrolled to keep it
    /// in view.
    func drawLoraList(_ list: LoraList, in rect: Rect, on screen: TextScreen) {
        frame(rect, title: "LoRAs (\(list.entries.count)) \u{00B7} Enter insert \u{00B7} Esc back", focused: true, on: screen)
        let inner = rect.inner
        guard inner.rows > 1, inner.columns > 0 else { return }
        screen.put(list.folder, row: inner.row, column: inner.column, style: CellStyle(.dimText), width: inner.columns)
        let rows = inner.rows - 1
        let first = max(0, min(list.selected - rows / 2, list.entries.count - rows))
        for (offset, entry) in list.entries.dropFirst(first).prefix(rows).enumerated() {
            let row = inner.row + 1 + offset
            let style = first + offset == list.selected ? CellStyle(.selection, bold: true) : CellStyle(.text)
            let size = entry.shownSize
            let room = max(0, inner.columns - size.count - 1)
            screen.fill(row: row, column: inner.column, rows: 1, columns: inner.columns, style: style)
            screen.put(entry.shownName, row: row, column: inner.column, style: style, width: room)
            if room > 0 { screen.put(size, row: row, column: inner.column + room + 1, style: style, width: size.count) }
        }
    }

    /// The editors' text width for a window (what up/down wrap by).
    public static func editorWidth(columns: Int, rows: Int) -> Int {
        StudioLayout(rows: rows, columns: columns).prompt.inner.columns
    }

    func frame(_ rect: Rect, title: String, focused: Bool, on screen: TextScreen) {
        guard rect.rows >= 2, rect.columns >= 2 else { return }
        let style = CellStyle(focused ? .focus : .border, bold: focused)
        let horizontal = String(repeating: "─", count: rect.columns - 2)
        screen.put("┌" + horizontal + "┐", row: rect.row, column: rect.column, style: style)
        for row in rect.row + 1..<rect.row + rect.rows - 1 {
            screen.put("│", row: row, column: rect.column, style: style)
            screen.put("│", row: row, column: rect.column + rect.columns - 1, style: style)
        }
        screen.put("└" + horizontal + "┘", row: rect.row + rect.rows - 1, column: rect.column, style: style)
        screen.put(" \(title) ", row: rect.row, column: rect.column + 2, style: CellStyle(focused ? .focus : .dimText, bold: focused),
                   width: rect.columns - 4)
    }

    func drawEditor(_ editor: TextEditor, title: String, in rect: Rect, focused: Bool, cursor showCursor: Bool = false,
                    on screen: TextScreen) {
        frame(rect, title: title, focused: focused, on: screen)
        let inner = rect.inner
        guard inner.rows > 0, inner.columns > 0 else { return }
        let layout = editor.layout(width: inner.columns)
        let texts = layout.texts
        let cursor = layout.cursor
        // Keep the cursor's line in view.
        let first = max(0, min(cursor.row - inner.rows + 1, texts.count - inner.rows))
        for (offset, text) in texts.dropFirst(first).prefix(inner.rows).enumerated() {
            screen.put(text, row: inner.row + offset, column: inner.column, style: .normal, width: inner.columns)
        }
        if focused || showCursor {
            screen.cursor = (inner.row + cursor.row - first, inner.column + min(cursor.column, inner.columns - 1))
        }
    }

    func drawParameters(_ panel: ParameterPanel, in rect: Rect, focused: Bool, on screen: TextScreen) {
        frame(rect, title: "Parameters", focused: focused, on: screen)
        let inner = rect.inner
        let labelWidth = 11
        let fields = ParameterPanel.Field.allCases
        // Scrolled so the selected field is in view when the panel is shorter than the list.
        let selectedIndex = fields.firstIndex(of: panel.selected) ?? 0
        let first = max(0, min(selectedIndex - inner.rows + 1, fields.count - inner.rows))
        for (offset, field) in fields.dropFirst(first).prefix(inner.rows).enumerated() {
            let row = inner.row + offset
            let selected = focused && panel.selected == field
            let value = selected && panel.typing != nil ? panel.typing! + "_" : panel.value(field)
            let label = field.label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            screen.put(label, row: row, column: inner.column, style: CellStyle(.dimText))
            let valueStyle = selected ? CellStyle(.selection, bold: true) : CellStyle(.text)
            let shown = selected ? "\u{2039} \(value) \u{203A}" : value
            screen.put(shown, row: row, column: inner.column + labelWidth, style: valueStyle,
                       width: max(0, inner.columns - labelWidth))
        }
    }

    func drawProgress(_ state: StudioState, in rect: Rect, on screen: TextScreen) {
        let jobs = state.jobs
        guard let progress = jobs.progress, jobs.running else {
            // Running with no step yet: starting, or a server that reports no progress (sd-server).
            let idle = jobs.running ? "working..." + (jobs.queued > 0 ? "  +\(jobs.queued) queued" : "")
                : jobs.queued > 0 ? "queue: \(jobs.queued) waiting" : "idle"
            screen.put(idle, row: rect.row, column: rect.column, style: CellStyle(.dimText), width: rect.columns)
            return
        }
        var text = String(format: " %d/%d  %.2f it/s  %.1fs  ETA %.1fs", progress.step, progress.total,
                          progress.stepsPerSecond, progress.elapsed, progress.eta)
        if jobs.paused { text += "  PAUSED" }
        if jobs.queued > 0 { text += "  +\(jobs.queued) queued" }
        let barWidth = max(0, min(40, rect.columns - text.count - 1))
        let filled = barWidth * progress.step / max(progress.total, 1)
        screen.put(String(repeating: "█", count: filled), row: rect.row, column: rect.column, style: CellStyle(.progress))
        screen.put(String(repeating: "░", count: barWidth - filled), row: rect.row, column: rect.column + filled,
                   style: CellStyle(.dimText))
        screen.put(text, row: rect.row, column: rect.column + barWidth, style: .normal, width: rect.columns - barWidth)
    }

    func drawStatus(_ state: StudioState, in rect: Rect, on screen: TextScreen) {
        let role: Theme.Role = switch state.statusKind {
        case .info: .statusText
        case .success: .success
        case .warning: .warning
        case .error: .error
        }
        screen.fill(row: rect.row, column: rect.column, rows: 1, columns: rect.columns, style: CellStyle(.statusBackground))
        let hints = "Enter generate  Esc cancel  Tab focus  ^S save  ^Q quit  F1 help"
        // A warning, an error or a success longer than the room beside the hints takes the whole line.
        let cut = state.statusKind != .info && state.status.count + 1 > rect.columns - hints.count - 2
        let room = cut ? 0 : rect.columns - hints.count - 2
        screen.put(" " + state.status, row: rect.row, column: rect.column, style: CellStyle(role),
                   width: room > 20 ? room : rect.columns)
        if room > 20 {
            screen.put(hints, row: rect.row, column: rect.column + rect.columns - hints.count - 1,
                       style: CellStyle(.statusText))
        }
    }

    /// The help overlay: the key table's sections (anywhere and the focused panel's first) in as
    /// many columns as fit, from the line `helpScroll` on; where it does not all fit the title says
    /// how to scroll.
    func drawHelp(_ state: StudioState, in layout: StudioLayout, on screen: TextScreen) {
        let sections = StudioKeyMap.help(focus: state.focus)
        let all = sections.flatMap(\.lines)
        let keyWidth = all.map(\.keys.count).max() ?? 0
        let columnWidth = keyWidth + 2 + (all.map(\.summary.count).max() ?? 0)
        // A heading, its lines, and a blank line between sections.
        var rows: [(text: String, heading: Bool)] = []
        for section in sections {
            if !rows.isEmpty { rows.append(("", false)) }
            rows.append((section.title, true))
            rows += section.lines.map { ($0.keys.padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  " + $0.summary, false) }
        }
        let maxColumns = max(1, (layout.columns - 4) / (columnWidth + 2))
        let available = max(1, layout.rows - 8)
        let columns = min(maxColumns, (rows.count + available - 1) / available)
        let perColumn = min(available, (rows.count + columns - 1) / columns)
        let capacity = columns * perColumn
        let first = min(state.helpScroll, max(0, rows.count - capacity))
        let width = min(layout.columns - 4, columns * (columnWidth + 2) + 2)
        let height = min(layout.rows - 4, perColumn + 4)
        let rect = Rect(row: (layout.rows - height) / 2, column: (layout.columns - width) / 2, rows: height, columns: width)
        screen.fill(row: rect.row, column: rect.column, rows: rect.rows, columns: rect.columns, style: .normal)
        frame(rect, title: rows.count > capacity ? "Keys \u{00B7} Up/Down PgUp/PgDn: more" : "Keys", focused: true, on: screen)
        for (index, line) in rows.dropFirst(first).prefix(capacity).enumerated() {
            let column = rect.column + 2 + (index / perColumn) * (columnWidth + 2)
            screen.put(line.text, row: rect.row + 2 + index % perColumn, column: column,
                       style: line.heading ? CellStyle(.accent, bold: true) : .normal,
                       width: max(0, min(columnWidth, rect.column + rect.columns - 2 - column)))
        }
    }
}
