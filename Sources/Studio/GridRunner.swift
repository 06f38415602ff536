import Diffusion
import Foundation
import Imaging

/// Runs an X/Y grid on the embedded engine, cell by cell (row by row), each on its own model when
/// the plan has a `model` axis (loaded once each). A cell that cannot run (a sampler of the wrong
/// kind for its model, a model that does not load) is a failed cell with its one-line reason; the
/// others still run. Cancelling (`control`) ends the run between steps.
public enum GridRunner {
    /// What became of one cell.
    public enum Outcome: Sendable {
        case image(GeneratedImage, model: StableDiffusionModel)
        case failed(String)
    }

    /// Every cell's request and model (nil: `model`), row by row; throws the first axis value
    /// that does not fit the base request (Prompt S/R's piece missing from the prompt).
    public static func cells(of plan: GridPlan, base: GenerationRequest) throws(GridAxis.ParseError) -> [(request: GenerationRequest, model: String?)] {
        var cells: [(request: GenerationRequest, model: String?)] = []
        for row in 0..<plan.rows {
            for column in 0..<plan.columns { cells.append(try plan.cell(row: row, column: column, base: base)) }
        }
        return cells
    }

    /// Runs the cells; `observe(index, event)` sees each cell's engine events (steps, previews) and
    /// `finished(index, outcome)` each cell's end. Throws `.cancelled` when cancelled.
    public static func run(plan: GridPlan, base: GenerationRequest, model: StableDiffusionModel,
                           loadModel: (String) throws -> StableDiffusionModel, control: GenerationControl,
                           observe: (Int, GenerationEvent) -> Void = { _, _ in },
                           finished: (Int, Outcome) -> Void) throws(GenerationError) {
        let cells: [(request: GenerationRequest, model: String?)]
        do {
            cells = try Self.cells(of: plan, base: base)
        } catch {
            throw .invalid(error.description)
        }
        var loaded: [String: Result<StableDiffusionModel, GridAxis.ParseError>] = [:]
        for (index, cell) in cells.enumerated() {
            try control.check()
            var cellModel = model
            if let name = cell.model {
                if loaded[name] == nil {
                    do {
                        loaded[name] = .success(try loadModel(name))
                    } catch {
                        loaded[name] = .failure(GridAxis.ParseError(description: "\(error)"))
                    }
                }
                switch loaded[name] {
                case .success(let found): cellModel = found
                case .failure(let problem): finished(index, .failed(problem.description)); continue
                case nil: continue
                }
            }
            let request = cell.request
            do {
                try request.validate(for: cellModel)
                let images = try Pipeline(model: cellModel).run(request, control: control) { observe(index, $0) }
                if let image = images.first {
                    finished(index, .image(image, model: cellModel))
                } else {
                    finished(index, .failed("no image"))
                }
            } catch .cancelled {
                throw .cancelled
            } catch {
                finished(index, .failed(error.description))
            }
        }
    }
}

extension GridRunner {
    /// Room to ask of the disk before a grid of `cell`-sized images runs: the cells drawn at up to
    /// twice their size, with labels around them.
    public static func pngBytes(plan: GridPlan, cell: (width: Int, height: Int)) -> Int {
        OutputFolder.imageBytes(width: cell.width * plan.columns * 2 + 200, height: cell.height * plan.rows * 2 + 100, count: 1)
    }

    /// The grid's PNG: `picture` with the first cell's parameters (as A1111 saves a grid: `--from`
    /// reruns that cell) and a `stipple_grid` text holding the axes and every cell's parameters
    /// (JSON: {"x": {"axis", "values"}, "y": ..., "cells": [text or null, row by row]}).
    public static func png(plan: GridPlan, picture: PixelImage, cellTexts: [String?]) throws -> [UInt8] {
        func axis(_ axis: GridAxis) -> [String: Any] { ["axis": axis.kind.rawValue, "values": axis.values] }
        var record: [String: Any] = ["x": axis(plan.x), "cells": cellTexts.map { $0 ?? NSNull() as Any }]
        if let y = plan.y { record["y"] = axis(y) }
        let json = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]))
            .flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        let first = cellTexts.compactMap { $0 }.first ?? ""
        return try ImageSaver.png(picture, parameters: first, extraTexts: [PNGText(key: "stipple_grid", value: json)])
    }
}
