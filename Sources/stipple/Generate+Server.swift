import ArgumentParser
import Diffusion
import Foundation
import Parallel
import Remote
import Studio
import Terminal

extension Generate {
    /// `generate` on a ComfyUI or A1111-compatible server: the same request, options, progress
    /// line and saving as on the embedded engine; the server's checkpoint is `--model` (or
    /// `[backend]`'s `checkpoint`, else the server's current one). Ctrl-C cancels the job on the
    /// server too; an image the server finished is saved before anything else is given up.
    func runOnServer(_ request: GenerationRequest, settings: BackendSettings, clock: StageClock) throws {
        var request = request
        let setup: RemoteSetup
        do {
            setup = try RemoteSetup(settings)
        } catch {
            throw CommandFailure("\(error)")
        }
        for warning in setup.warnings {
            FileHandle.standardError.write(Data("stipple: warning: \(TerminalText.visible(warning))\n".utf8))
        }
        let checkpoint: RemoteCheckpoint
        do {
            checkpoint = try setup.checkpoint(named: settings.checkpoint)
        } catch {
            throw CommandFailure(TerminalText.visible("\(error)"))
        }
        let target = ModelTarget.remote(checkpoint)
        clock.mark(.load)
        let folder = try prepare(&request, on: target)
        FileHandle.standardError.write(Data((TerminalText.visible("stipple: generating on \(setup.backend.connection.label) with \(checkpoint.name)") + "\n").utf8))

        let progress = ProgressReporter(showPreviews: show && request.preview != .off)
        let saver = ImageSaver(target: target, modelHash: checkpoint.hash)
        let ended = DispatchSemaphore(value: 0)
        let outcome = Locked<ServerOutcome?>(nil)
        // A save failure wins over how the job then ended.
        let settle = { @Sendable (value: ServerOutcome) in
            outcome.withLock { stored in
                if case .saveFailed = stored { return }
                stored = value
            }
        }
        let control = setup.backend.submit(request, target: target) { event in
            // The backend's thread: report, save, and note how the job ended.
            progress.report(event)
            switch event {
            case .image(let image):
                do {
                    let url = try save(image, saver: saver, folder: folder)
                    progress.saved(url.path, seed: image.seed)
                    if show { try Self.present(image.image) }
                } catch {
                    settle(.saveFailed("\(error)"))
                }
            case .finished: settle(.finished); ended.signal()
            case .failed(let message): settle(.failed(message)); ended.signal()
            case .cancelled: settle(.cancelled); ended.signal()
            default: break
            }
        }
        let interrupts = InterruptHandler { control.cancel() }
        defer { interrupts.restore() }
        ended.wait()
        progress.finishLine()
        switch outcome.withLock({ $0 }) {
        case .finished: break
        case .saveFailed(let message): throw CommandFailure(message)
        case .failed(let message): throw CommandFailure(TerminalText.visible(message))
        case .cancelled, nil:
            FileHandle.standardError.write(Data("stipple: cancelled\n".utf8))
            throw ExitCode(interrupts.exitStatus)
        }
        if timings {
            FileHandle.standardError.write(Data((clock.summary(steps: request.steps)
                + String(format: "; peak memory %.0f MB", ResidentMemory.peakMegabytes) + "\n").utf8))
        }
    }
}

/// How a server job ended, as the waiting thread reads it.
private enum ServerOutcome { case finished, failed(String), cancelled, saveFailed(String) }
