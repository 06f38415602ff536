import Terminal

extension StudioKeyMap {
    /// Every key the studio acts on, in the order they are tried (within a context, the first that
    /// matches and applies wins; `anywhere` before the focused panel's). The help overlay is made
    /// from this table.
    public static let bindings: [KeyBinding] = anywhere + editors + parameters + image + gallery + loraList + gridLine + whileHelpShown

    static let anywhere: [KeyBinding] = [
        KeyBinding([[.ctrl("q"), .ctrl("c")]], .anywhere, "quit (cancels a run)") { _, _, _ in [.quit] },
        KeyBinding([[.ctrl("s")]], .anywhere, "save the image shown (a step too)") { _, _, _ in [.save] },
        KeyBinding([[.function(1)]], .anywhere, "this help") { state, _, _ in
            state.showHelp = true
            return []
        },
        KeyBinding([[.function(2)]], .anywhere, "gallery (open / close)") { state, _, _ in toggleGallery(&state) },
        KeyBinding([[.function(3)]], .anywhere, "timeline: denoised / noisy latent") { state, _, _ in
            toggleLatent(&state)
            return []
        },
        KeyBinding([[.function(4)]], .anywhere, "timeline as a contact sheet PNG") { _, _, _ in [.exportTimeline] },
        KeyBinding([[.function(5)]], .anywhere, "next theme") { _, _, _ in [.nextTheme] },
        KeyBinding([[.function(6)]], .anywhere, "few-step preset for this model (again: back)") { state, _, _ in
            state.toggleFewStepPreset()
            return []
        },
        KeyBinding([[.function(7)]], .anywhere, "LoRA list (open / close)") { state, _, _ in
            state.toggleLoraList()
            return []
        },
        KeyBinding([[.function(8)]], .anywhere, "prompt parse: which text applies at which step (open / close)") { state, _, _ in
            state.showPromptParse.toggle()
            if state.showPromptParse && state.focus != .prompt { state.focus = .prompt }
            return []
        },
        KeyBinding([[.pageUp], [.pageDown]], .anywhere, "timeline: previous / next step (forward view: t by a tenth)",
                   when: { !inList($0) }) { state, key, _ in
            if state.pane == .forward && state.focus != .grid {
                return state.scrubForward(by: (key == .pageUp ? -10 : 10) * (state.forward?.stride ?? 1))
            }
            state.scrub(by: key == .pageUp ? -1 : 1)
            return []
        },
        KeyBinding([[.escape]], .anywhere, "cancel the running generation or grid (idle: back to the timeline)",
                   when: { !typingInPanel($0) && !(inList($0) && !$0.jobs.running) && $0.focus != .grid }) { state, _, _ in
            if state.jobs.running { return [.cancel] }
            if let grid = state.grid, !grid.finished { return [.cancelGrid] }
            state.pane = .timeline
            return []
        },
        KeyBinding([[.ctrl("p")]], .anywhere, "pause / resume the run") { state, _, _ in
            guard state.jobs.running else { return [] }
            return [state.jobs.paused ? .resume : .pause]
        },
        KeyBinding([[.ctrl("n")]], .anywhere, "one step while paused") { state, _, _ in
            state.jobs.running && state.jobs.paused ? [.stepOnce] : []
        },
        KeyBinding([[.tab], [.backTab]], .anywhere, "next / previous panel") { state, key, _ in
            state.focus = next(state.focus, by: key == .tab ? 1 : -1)
            return []
        },
        KeyBinding([[.enter]], .anywhere, "generate (queued while one runs)",
                   when: { !typingInPanel($0) && !inList($0) && $0.focus != .grid }) { state, _, _ in generate(&state) },
        KeyBinding([[.function(9)]], .anywhere, "forward view: noise the image shown through the schedule (again: back)") { state, _, _ in
            state.toggleForward()
        },
        KeyBinding([[.function(10)]], .anywhere, "trajectory view: how far each step moved (again: back)") { state, _, _ in
            state.toggleTrajectory()
            return []
        },
        KeyBinding([[.function(11)]], .anywhere, "X/Y grid: type its axes, Enter runs it (again: close)") { state, _, _ in
            state.toggleGridEditor()
            return []
        },
    ]

    static let editors: [KeyBinding] = [
        KeyBinding(triggers: [[.anyCharacter, .anyPaste]], .editors, "insert") { state, key, _ in
            editFocused(&state) { editor in
                if case .character(let character) = key { editor.insert(String(character)) }
                if case .paste(let text) = key { editor.insert(text) }
            }
        },
        KeyBinding([[.newline]], .editors, "new line (or Shift-Enter)") { state, _, _ in
            editFocused(&state) { $0.insert("\n") }
        },
        KeyBinding([[.backspace], [.delete]], .editors, "delete before / after the cursor") { state, key, _ in
            editFocused(&state) { key == .backspace ? $0.deleteBackward() : $0.deleteForward() }
        },
        KeyBinding([[.left], [.right]], .editors, "move left / right") { state, key, _ in
            editFocused(&state) { key == .left ? $0.moveLeft() : $0.moveRight() }
        },
        KeyBinding([[.wordLeft, .alt("b")]], .editors, "previous word") { state, _, _ in
            editFocused(&state) { $0.moveWordLeft() }
        },
        KeyBinding([[.wordRight, .alt("f")]], .editors, "next word") { state, _, _ in
            editFocused(&state) { $0.moveWordRight() }
        },
        KeyBinding([[.home, .ctrl("a")]], .editors, "start of the line") { state, _, _ in
            editFocused(&state) { $0.moveToLineStart() }
        },
        KeyBinding([[.end, .ctrl("e")]], .editors, "end of the line") { state, _, _ in
            editFocused(&state) { $0.moveToLineEnd() }
        },
        KeyBinding([[.up], [.down]], .editors, "line up / down; prompt history") { state, key, width in
            editFocused(&state) { _ = key == .up ? $0.moveUp(width: width) : $0.moveDown(width: width) }
        },
        KeyBinding([[.ctrl("w")]], .editors, "delete the word before") { state, _, _ in
            editFocused(&state) { $0.deleteWordBackward() }
        },
        KeyBinding([[.ctrl("k")]], .editors, "delete to the end of the line") { state, _, _ in
            editFocused(&state) { $0.deleteToLineEnd() }
        },
        KeyBinding([[.ctrl("u")]], .editors, "delete to the start of the line") { state, _, _ in
            editFocused(&state) { $0.deleteToLineStart() }
        },
        KeyBinding([[.alt("="), .alt("+")], [.alt("-")]], .editors, "<lora:...> at the cursor: weight +0.1 / -0.1") { state, key, _ in
            state.adjustLoraWeight(by: key == .alt("-") ? -LoraTag.weightStep : LoraTag.weightStep)
            return []
        },
    ]

    static let parameters: [KeyBinding] = [
        KeyBinding([[.up], [.down]], .parameters, "previous / next field") { state, key, _ in
            key == .up ? state.panel.selectPrevious() : state.panel.selectNext()
            return []
        },
        KeyBinding([[.left], [.right]], .parameters, "change the value (Model: load the previous / next bundled model)") { state, key, _ in
            if state.panel.selected == .model { return nextModel(&state, by: key == .left ? -1 : 1) }
            if let problem = state.panel.adjust(by: key == .left ? -1 : 1) { state.setStatus(sentence: problem, .warning) }
            return []
        },
        KeyBinding([[.character("?")]], .parameters, "this help (when not typing)",
                   when: { $0.panel.typing == nil }) { state, _, _ in
            state.showHelp = true
            return []
        },
        KeyBinding(triggers: [[.anyCharacter, .anyPaste]], .parameters, "type a value") { state, key, _ in
            if case .character(let character) = key { state.panel.type(character) }
            if case .paste(let text) = key { text.forEach { state.panel.type($0) } }
            return []
        },
        KeyBinding([[.backspace]], .parameters, "delete a typed character") { state, _, _ in
            state.panel.deleteTyped()
            return []
        },
        KeyBinding([[.enter]], .parameters, "apply the typed value (model: load)",
                   when: typingInPanel) { state, _, _ in applyTyped(&state) },
        KeyBinding([[.escape]], .parameters, "drop the typed value", when: typingInPanel) { state, _, _ in
            state.panel.typing = nil
            return []
        },
    ]

    static let image: [KeyBinding] = [
        KeyBinding([[.left], [.right]], .image, "forward view: t back / on by a hundredth",
                   when: { $0.pane == .forward }) { state, key, _ in
            state.scrubForward(by: (key == .left ? -1 : 1) * (state.forward?.stride ?? 1))
        },
        KeyBinding([[.character("[")], [.character("]")]], .image, "forward view: t back / on by one",
                   when: { $0.pane == .forward }) { state, key, _ in
            state.scrubForward(by: key == .character("[") ? -1 : 1)
        },
        KeyBinding([[.home], [.end]], .image, "forward view: t = 0 (the image) / T (noise)",
                   when: { $0.pane == .forward }) { state, key, _ in
            state.scrubForward(to: key == .home ? 0 : Int.max / 2)
        },
        KeyBinding([[.character("f")]], .image, "forward view (as F9)") { state, _, _ in state.toggleForward() },
        KeyBinding([[.character("v")]], .image, "trajectory view (as F10)") { state, _, _ in
            state.toggleTrajectory()
            return []
        },
        KeyBinding([[.character("x")]], .image, "X/Y grid line (as F11)") { state, _, _ in
            state.toggleGridEditor()
            return []
        },
        KeyBinding([[.left, .character("[")], [.right, .character("]")]], .image, "previous / next step") { state, key, _ in
            state.scrub(by: key == .left || key == .character("[") ? -1 : 1)
            return []
        },
        KeyBinding([[.home], [.end]], .image, "first step / follow the newest") { state, key, _ in
            key == .home ? state.scrubToStart() : state.scrubToEnd()
            return []
        },
        KeyBinding([[.up], [.down]], .image, "the last / this generation") { state, key, _ in
            viewGeneration(&state, previous: key == .up)
            return []
        },
        KeyBinding([[.character("d")]], .image, "denoised / noisy (as F3)") { state, _, _ in
            toggleLatent(&state)
            return []
        },
        KeyBinding([[.character("e")]], .image, "contact sheet (as F4)") { _, _, _ in [.exportTimeline] },
        KeyBinding([[.character("g")]], .image, "gallery (as F2)") { state, _, _ in toggleGallery(&state) },
        KeyBinding([[.character("t")]], .image, "next theme (as F5)") { _, _, _ in [.nextTheme] },
        KeyBinding([[.character("?")]], .image, "this help") { state, _, _ in
            state.showHelp = true
            return []
        },
    ]

    static let gallery: [KeyBinding] = [
        KeyBinding([[.up, .character("k")], [.down, .character("j")]], .gallery, "choose and show") { state, key, _ in
            state.gallery.move(by: key == .up || key == .character("k") ? -1 : 1)
            return [.showGalleryEntry]
        },
        KeyBinding([[.pageUp], [.pageDown]], .gallery, "ten up / down") { state, key, _ in
            state.gallery.move(by: key == .pageUp ? -10 : 10)
            return [.showGalleryEntry]
        },
        KeyBinding([[.home], [.end]], .gallery, "first / last") { state, key, _ in
            state.gallery.move(by: (key == .home ? -1 : 1) * state.gallery.entries.count)
            return [.showGalleryEntry]
        },
        KeyBinding([[.enter]], .gallery, "open: keep it shown, to the prompt") { state, _, _ in
            state.focus = .prompt
            return []
        },
        KeyBinding([[.character("l")]], .gallery, "load its parameters") { state, _, _ in
            state.loadSelectedParameters()
            return []
        },
        KeyBinding([[.escape]], .gallery, "back to the prompt (when idle)", when: { !$0.jobs.running }) { state, _, _ in
            state.focus = .prompt
            return []
        },
        KeyBinding([[.character("g")]], .gallery, "close the gallery (as F2)") { state, _, _ in toggleGallery(&state) },
        KeyBinding([[.character("t")]], .gallery, "next theme (as F5)") { _, _, _ in [.nextTheme] },
        KeyBinding([[.character("?")]], .gallery, "this help") { state, _, _ in
            state.showHelp = true
            return [.showGalleryEntry]
        },
    ]

    static let loraList: [KeyBinding] = [
        KeyBinding([[.up, .character("k")], [.down, .character("j")]], .loras, "choose") { state, key, _ in
            state.loras?.move(by: key == .up || key == .character("k") ? -1 : 1)
            return []
        },
        KeyBinding([[.pageUp], [.pageDown]], .loras, "ten up / down") { state, key, _ in
            state.loras?.move(by: key == .pageUp ? -10 : 10)
            return []
        },
        KeyBinding([[.home], [.end]], .loras, "first / last") { state, key, _ in
            let count = state.loras?.entries.count ?? 0
            state.loras?.move(by: (key == .home ? -1 : 1) * count)
            return []
        },
        KeyBinding([[.enter]], .loras, "put <lora:NAME:1> at the prompt's cursor") { state, _, _ in
            state.insertChosenLora()
            return []
        },
        KeyBinding([[.escape]], .loras, "back to the prompt (when idle)", when: { !$0.jobs.running }) { state, _, _ in
            state.focus = .prompt
            return []
        },
        KeyBinding([[.character("?")]], .loras, "this help") { state, _, _ in
            state.showHelp = true
            return []
        },
    ]

    /// The X/Y grid's line (F11).
    static let gridLine: [KeyBinding] = [
        KeyBinding(triggers: [[.anyCharacter, .anyPaste]], .grid, "type the axes") { state, key, _ in
            if case .character(let character) = key { state.gridLine.insert(String(character)) }
            if case .paste(let text) = key { state.gridLine.insert(text.replacingOccurrences(of: "\n", with: " ")) }
            return []
        },
        KeyBinding([[.backspace], [.delete]], .grid, "delete before / after the cursor") { state, key, _ in
            key == .backspace ? state.gridLine.deleteBackward() : state.gridLine.deleteForward()
            return []
        },
        KeyBinding([[.left], [.right]], .grid, "move left / right") { state, key, _ in
            key == .left ? state.gridLine.moveLeft() : state.gridLine.moveRight()
            return []
        },
        KeyBinding([[.home, .ctrl("a")], [.end, .ctrl("e")]], .grid, "start / end of the line") { state, key, _ in
            key == .home || key == .ctrl("a") ? state.gridLine.moveToLineStart() : state.gridLine.moveToLineEnd()
            return []
        },
        KeyBinding([[.enter]], .grid, "run the grid (every cell: the prompt and the panel's settings)") { state, _, _ in
            state.runGridLine()
        },
        KeyBinding([[.escape]], .grid, "close the line") { state, _, _ in
            state.focus = .prompt
            return []
        },
    ]

    /// While the help is shown: these close it or scroll it and do nothing else (other keys close
    /// it and act).
    static let whileHelpShown: [KeyBinding] = [
        KeyBinding([[.escape, .function(1), .character("?")]], .help, "close it (other keys: close and act)") { state, _, _ in
            closeHelp(&state)
            return []
        },
        KeyBinding([[.up, .pageUp], [.down, .pageDown]], .help, "scroll it where it does not fit") { state, key, _ in
            let lines = key == .up || key == .down ? 1 : 10
            let total = help(focus: state.focus).reduce(0) { $0 + $1.lines.count + 2 }
            state.helpScroll = min(total, max(0, state.helpScroll + (key == .up || key == .pageUp ? -lines : lines)))
            return []
        },
    ]
}
