import Terminal

/// Where a key binding acts: anywhere, in the focused panel, or over the help overlay.
public enum KeyContext: CaseIterable, Sendable {
    case anywhere, editors, parameters, image, gallery, loras, grid
    /// While the help overlay is shown (any key closes it; these do nothing else).
    case help

    /// The panel context of a focus.
    public init(_ focus: StudioState.Focus) {
        switch focus {
        case .prompt, .negative: self = .editors
        case .parameters: self = .parameters
        case .image: self = .image
        case .gallery: self = .gallery
        case .loras: self = .loras
        case .grid: self = .grid
        }
    }

    /// The help overlay's heading.
    public var title: String {
        switch self {
        case .anywhere: "Anywhere"
        case .editors: "Prompt and negative prompt"
        case .parameters: "Parameter panel"
        case .image: "Image pane"
        case .gallery: "Gallery"
        case .loras: "LoRA list"
        case .grid: "X/Y grid line"
        case .help: "This help"
        }
    }
}

/// One row of the key table: the keys, where they act, what the help says, and what they do.
/// `StudioKeyMap.handle` runs the first binding that matches; the help overlay lists the same rows.
public struct KeyBinding: Sendable {
    public enum Trigger: Equatable, Sendable {
        case key(Key)
        /// Any printable character (typing).
        case anyCharacter
        /// A bracketed paste.
        case anyPaste
    }

    public typealias Action = @Sendable (_ state: inout StudioState, _ key: Key, _ editorWidth: Int) -> [StudioState.Effect]

    /// Groups of keys, shown separated by " / " (keys of one group by a space), e.g. the keys for
    /// "previous" and the keys for "next" of a "previous / next" summary.
    public let groups: [[Trigger]]
    public let context: KeyContext
    /// What the help says the keys do.
    public let summary: String
    /// Whether the binding acts in this state; when not, the key goes on to the next binding that
    /// matches (the focused panel's).
    let applies: @Sendable (StudioState) -> Bool
    let action: Action

    init(_ groups: [[Key]], _ context: KeyContext, _ summary: String,
         when applies: @escaping @Sendable (StudioState) -> Bool = { _ in true }, _ action: @escaping Action) {
        self.init(triggers: groups.map { $0.map(Trigger.key) }, context, summary, when: applies, action)
    }

    init(triggers: [[Trigger]], _ context: KeyContext, _ summary: String,
         when applies: @escaping @Sendable (StudioState) -> Bool = { _ in true }, _ action: @escaping Action) {
        (self.groups, self.context, self.summary, self.applies, self.action) = (triggers, context, summary, applies, action)
    }

    public func matches(_ key: Key) -> Bool {
        groups.joined().contains { trigger in
            switch (trigger, key) {
            case (.key(let bound), _): bound == key
            case (.anyCharacter, .character): true
            case (.anyPaste, .paste): true
            default: false
            }
        }
    }

    /// The keys as the help shows them, e.g. "Up k / Down j".
    public var keysLabel: String {
        groups.map { $0.map(Self.label).joined(separator: " ") }.joined(separator: " / ")
    }

    public static func label(_ trigger: Trigger) -> String {
        switch trigger {
        case .anyCharacter: "text"
        case .anyPaste: "paste"
        case .key(let key): label(key)
        }
    }

    /// A key's name in the help: "Ctrl-A", "Alt-B", "F2", "PgUp", "j".
    public static func label(_ key: Key) -> String {
        switch key {
        case .character(let character): String(character)
        case .paste: "paste"
        case .enter: "Enter"
        case .newline: "Alt-Enter"
        case .escape: "Esc"
        case .tab: "Tab"
        case .backTab: "Shift-Tab"
        case .backspace: "Backspace"
        case .delete: "Delete"
        case .up: "Up"
        case .down: "Down"
        case .left: "Left"
        case .right: "Right"
        case .wordLeft: "Ctrl-Left"
        case .wordRight: "Ctrl-Right"
        case .home: "Home"
        case .end: "End"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .ctrl(let letter): "Ctrl-" + letter.uppercased()
        case .alt(let character): "Alt-" + character.uppercased()
        case .function(let number): "F\(number)"
        }
    }
}
