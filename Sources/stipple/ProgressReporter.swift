import Diffusion
import Foundation
import Imaging
import Parallel
import Studio
import Terminal

/// `stipple generate`'s progress on stderr: a redrawn bar (step i/N, it/s, ETA) when stderr is a
/// terminal, one plain line per step otherwise (logs, pipes). Saved paths go to stdout, one per
/// line, so scripts can read them. With `showPreviews` on a terminal, each preview is drawn as
/// 24-bit half-blocks above the bar and redrawn in place.
final class ProgressReporter: @unchecked Sendable {  // one job's events arrive in order, never two at once
    let isTerminal = isatty(STDERR_FILENO) == 1
    let showPreviews: Bool
    /// Terminal rows the last preview took (to move back up over it).
    private var previewRows = 0
    private var onBar = false

    init(showPreviews: Bool) {
        self.showPreviews = showPreviews && isatty(STDERR_FILENO) == 1
    }

    func report(_ event: GenerationEvent) {
        switch event {
        case .started(let start):
            let of = start.imageCount > 1 ? " (image \(start.imageIndex + 1) of \(start.imageCount))" : ""
            line("seed \(start.seed), \(start.steps) steps\(of)")
        case .step(let progress):
            if let preview = progress.preview, showPreviews { draw(preview) }
            let rate = String(format: "%.2f it/s", progress.stepsPerSecond)
            if isTerminal {
                let width = 30
                let filled = width * progress.step / max(progress.total, 1)
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                let eta = String(format: "ETA %.1fs", progress.eta)
                write("\r" + EscapeSequence.eraseToLineEnd + "\(bar) \(progress.step)/\(progress.total)  \(rate)  \(eta)")
                onBar = true
            } else {
                line("step \(progress.step)/\(progress.total)  \(rate)  \(String(format: "%.2fs", progress.elapsed))")
            }
        case .decoding:
            if isTerminal {
                write("\r" + EscapeSequence.eraseToLineEnd + "decoding")
                onBar = true
            }
        case .image(let image):
            line(String(format: "done in %.2fs", image.seconds))
        case .warning(let message):
            line(TerminalText.visible("warning: " + message))
        case .finished, .failed, .cancelled:
            finishLine()
        }
    }

    /// Reports a saved file: its path on stdout.
    func saved(_ path: String, seed: UInt64) {
        finishLine()
        FileHandle.standardOutput.write(Data((path + "\n").utf8))
    }

    /// Ends a bar left on the current line.
    func finishLine() {
        if onBar {
            write("\r" + EscapeSequence.eraseToLineEnd)
            onBar = false
        }
    }

    private func line(_ text: String) {
        finishLine()
        write("stipple: " + text + "\n")
        previewRows = 0
    }

    private func draw(_ preview: PixelImage) {
        let image = RGBImage(preview)
        let columns = min(48, max(8, preview.width))
        let rows = HalfBlockEncoder.rows(forWidth: image.width, height: image.height, columns: columns)
        var text = "\r" + EscapeSequence.eraseToLineEnd
        if previewRows > 0 { text += EscapeSequence.cursorUp(previewRows) }
        write(text)
        let bytes = HalfBlockEncoder(colors: .truecolor).encode(image.fitted(width: columns, height: rows * 2), columns: columns)
        FileHandle.standardError.write(Data(bytes))
        write("\n")
        previewRows = rows
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Turns SIGINT and SIGTERM into a cancellation while installed, so an interrupted run stops at
/// the next layer, removes nothing half-written, and exits 130.
final class InterruptHandler {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "stipple.signals")
    private let received = Locked<Int32?>(nil)

    init(_ action: @escaping @Sendable () -> Void) {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [received] in
                received.withLock { if $0 == nil { $0 = signalNumber } }
                action()
                // A second interrupt ends the process at once.
                signal(signalNumber, SIG_DFL)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// The first signal that arrived, if any.
    var receivedSignal: Int32? { received.withLock { $0 } }

    /// The shell's status for a run ended by the first signal: 128 + its number (130 for SIGINT,
    /// 143 for SIGTERM, 129 for SIGHUP); 130 when none arrived (cancelled otherwise).
    var exitStatus: Int32 { 128 + (receivedSignal ?? SIGINT) }

    func restore() {
        for source in sources { source.cancel() }
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] { signal(signalNumber, SIG_DFL) }
    }
}
