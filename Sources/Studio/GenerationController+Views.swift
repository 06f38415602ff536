import Diffusion
import Foundation
import Imaging

/// The pane views' work off the UI thread: the forward view's encode and decodes (one decode at a
/// time; scrubbing faster than it decodes asks only for the newest timestep), and a grid's run.
struct ViewWork {
    var forward: ForwardProcess?
    var decoding = false
    var wantedT: Int?
    /// The running grid's control (nil when none runs).
    var gridControl: GenerationControl?
    /// Each finished cell's parameters text, row by row (the grid PNG records them).
    var gridTexts: [String?] = []
    /// The grid's seed (its file name's).
    var gridSeed: UInt64 = 0
}

extension GenerationController {
    /// The forward view on `image`: encoded by the loaded model's VAE off the UI thread.
    func openForward(_ image: PixelImage, source: String, state: inout StudioState) {
        guard case .embedded(let model) = model.target else {
            state.setStatus("The forward view needs a model loaded here (the embedded engine), not a server's.", .warning)
            return
        }
        state.setStatus("Encoding \(source) for the forward view...")
        let inbox = inbox
        DispatchQueue.global(qos: .userInitiated).async {
            do {
                // A size the VAE takes: the image fitted to a multiple of its cell.
                let cell = model.vaeScaleFactor
                var fitted = image
                if image.width % cell != 0 || image.height % cell != 0 {
                    let (width, height) = (max(cell, image.width / cell * cell), max(cell, image.height / cell * cell))
                    fitted = PixelImage(RGBImage(image).fitted(width: width, height: height))
                }
                let process = try ForwardProcess(model: model, image: fitted, seed: 0)
                inbox.post(.view(.forwardReady(process, source)))
            } catch {
                inbox.post(.view(.failed("Forward view: \(error)")))
            }
        }
    }

    /// The forward view on the image file at `path` (the init image field's).
    func openForward(file path: String, state: inout StudioState) {
        do {
            let image = try InitImage.load(path: path, width: nil, height: nil)
            openForward(image, source: URL(fileURLWithPath: path).lastPathComponent, state: &state)
        } catch {
            state.setStatus(sentence: error.description, .error)
        }
    }

    /// Asks for x_t at `t`: decoded now when no decode runs, else after it (only the newest asked).
    func decodeForward(at t: Int) {
        views.wantedT = t
        startNextDecode()
    }

    private func startNextDecode() {
        guard !views.decoding, let process = views.forward, let t = views.wantedT else { return }
        views.decoding = true
        views.wantedT = nil
        let inbox = inbox
        DispatchQueue.global(qos: .userInitiated).async {
            do {
                inbox.post(.view(.forwardFrame(t, try process.image(at: t))))
            } catch {
                inbox.post(.view(.failed("Forward view: decoding t \(t): \(error)")))
            }
        }
    }

    /// Runs `plan` cell by cell on the embedded engine (each cell's model loaded once for a
    /// `model` axis); the pane shows the grid filling in, and it is saved into the output folder.
    func runGrid(_ plan: GridPlan, base: GenerationRequest, state: inout StudioState) {
        guard views.gridControl == nil else {
            state.setStatus("A grid is running: Esc cancels it.", .warning)
            return
        }
        guard jobs.isEmpty else {
            state.setStatus("A generation is running: the grid can start once it ends (or Esc cancels it).", .warning)
            return
        }
        guard case .embedded(let model) = model.target else {
            state.setStatus("The X/Y grid runs on the embedded engine, not on a server.", .warning)
            return
        }
        do {
            try OutputFolder(url: outputFolder).checkWritable(bytes: GridRunner.pngBytes(plan: plan, cell: base.size(for: model)))
        } catch {
            state.setStatus("Cannot save the grid: \(error)", .error)
            return
        }
        var view = GridView(plan: plan, prompt: base.prompt)
        view.picture = PanePictures.grid(view)
        state.grid = view
        state.pane = .grid
        state.setStatus("X/Y grid: \(plan.columns * plan.rows) cells, \(plan.summary). Esc cancels.")
        let control = GenerationControl()
        views.gridControl = control
        views.gridTexts = Array(repeating: nil, count: plan.columns * plan.rows)
        views.gridSeed = base.seed ?? 0
        let (inbox, use) = (inbox, self.model)
        DispatchQueue.global(qos: .userInitiated).async {
            var cancelled = false
            do {
                var uses: [ObjectIdentifier: ModelUse] = [ObjectIdentifier(model): use]
                try GridRunner.run(plan: plan, base: base, model: model, loadModel: { try ModelLocator.load(path: $0) },
                                   control: control, observe: { index, event in
                                       if case .started = event { inbox.post(.view(.gridRunning(index))) }
                                   }, finished: { index, outcome in
                                       switch outcome {
                                       case .image(let image, let cellModel):
                                           let cellUse = uses[ObjectIdentifier(cellModel)] ?? ModelUse(model: cellModel)
                                           uses[ObjectIdentifier(cellModel)] = cellUse
                                           inbox.post(.view(.gridCell(index, image.image, image, cellUse, failure: nil)))
                                       case .failed(let why):
                                           inbox.post(.view(.gridCell(index, nil, nil, nil, failure: why)))
                                       }
                                   })
            } catch GenerationError.cancelled {
                cancelled = true
            } catch {
                inbox.post(.view(.failed("X/Y grid: \(error)")))
            }
            inbox.post(.view(.gridFinished(cancelled: cancelled)))
        }
    }

    func handle(_ event: EventInbox.ViewEvent, state: inout StudioState) {
        switch event {
        case .forwardReady(let process, let source):
            views.forward = process
            views.decoding = false
            let view = ForwardView(process: process, source: source, t: process.count / 2)
            state.forward = view
            state.pane = .forward
            state.focus = .image
            decodeForward(at: view.t)
            state.setStatus("Forward view of \(source) (\(process.curve.name) schedule): Left/Right move t by 1%, [ ] by one, "
                            + "PgUp/PgDn by 10%, Home/End to the ends; F9 or Esc: back.")
        case .forwardFrame(let t, let image):
            views.decoding = false
            if var forward = state.forward {
                forward.frame = (t, image)
                forward.picture = PanePictures.forward(forward)
                state.forward = forward
            }
            startNextDecode()
        case .gridRunning(let index):
            state.grid?.running = index
        case .gridCell(let index, let image, let generated, let use, let failure):
            guard var grid = state.grid, grid.cells.indices.contains(index) else { return }
            grid.cells[index] = image
            grid.failures[index] = failure.map { $0.isEmpty ? "failed" : $0 }
            if let generated, let use, views.gridTexts.indices.contains(index) {
                views.gridTexts[index] = ImageSaver(target: use.target, modelHash: use.hash.value).infotext(for: generated).text
            }
            grid.picture = PanePictures.grid(grid)
            state.grid = grid
            if let failure { state.setStatus("Grid cell \(index + 1): \(failure)", .warning) }
        case .gridFinished(let cancelled):
            views.gridControl = nil
            guard var grid = state.grid else { return }
            (grid.finished, grid.cancelled, grid.running) = (true, cancelled, nil)
            grid.picture = PanePictures.grid(grid)
            if !cancelled, let picture = grid.picture {
                do {
                    let bytes = try GridRunner.png(plan: grid.plan, picture: picture, cellTexts: views.gridTexts)
                    grid.saved = try OutputFolder(url: outputFolder).save(bytes, seed: views.gridSeed, suffix: "grid")
                    state.setStatus("Saved the grid \(grid.saved?.path ?? "")" + (grid.failures.contains { $0 != nil } ? " (some cells failed)." : "."),
                                    grid.failures.contains { $0 != nil } ? .warning : .success)
                } catch {
                    state.setStatus("Could not save the grid: \(error)", .error)
                }
            } else if cancelled {
                state.setStatus("Grid cancelled after \(grid.done) of \(grid.cells.count) cells.", .warning)
            }
            state.grid = grid
        case .failed(let message):
            views.decoding = false
            state.setStatus(message, .error)
        }
    }
}
