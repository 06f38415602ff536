// `import Terminal` also brings `EscapeSequence` (module TerminalBytes, which Imaging uses too).
@_exported import TerminalBytes
