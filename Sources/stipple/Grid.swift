import ArgumentParser
import Diffusion
import Foundation
import Studio
import Tensor
import Terminal

/// `stipple grid`: AUTOMATIC1111's X/Y plot from the command line (the studio's F11).
struct Grid: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "An X/Y comparison grid: the prompt generated for each value of one or two settings, saved as one labelled PNG.",
        discussion: """
            --x (and --y) name a setting and its values: steps, cfg, seed, sampler, schedule, model, prompt \
            (Prompt S/R: the first value is a piece of the prompt that each value replaces) or strength, e.g. \
            --x steps=5,10,20,50 --y model=shapes-64,shapes-64-linear. Every cell is the same generation (the \
            same seed, unless seed is an axis) with its column's and row's values; a cell that cannot run \
            (a sampler of the wrong kind for a flow model, say) is drawn as failed and the others still run. \
            The PNG carries the first cell's parameters (`--from` reruns it) and a stipple_grid text with the \
            axes and every cell's parameters. At most 12 values an axis, 144 cells.
            """
    )

    @OptionGroup var options: GenerationOptions

    @Option(name: .long, help: "The X axis (columns): NAME=V1,V2,...")
    var x: String

    @Option(name: .long, help: "The Y axis (rows): NAME=V1,V2,...")
    var y: String?

    @Option(name: [.short, .long], help: "Write the grid to this .png file (default: the output folder, NNNNN-SEED-grid.png).")
    var output: String?

    @Flag(name: .long, help: "Dark labels on a light background (default: light on dark).")
    var light = false

    func validate() throws {
        if options.prompt == nil { throw ValidationError("give a prompt with -p/--prompt") }
        if let output, !output.lowercased().hasSuffix(".png") { throw ValidationError("--output must name a .png file, not \(output)") }
        if output != nil && options.outputDir != nil { throw ValidationError("give --output or --output-dir, not both") }
    }

    func run() throws {
        if let threads = options.threads { Threads.set(threads) }
        if let output, FileManager.default.fileExists(atPath: output) {
            throw CommandFailure("\(output): already exists; stipple never overwrites an output")
        }
        let plan: GridPlan
        do {
            plan = try GridPlan(x: try GridAxis(parsing: x), y: try y.map { text throws(GridAxis.ParseError) in try GridAxis(parsing: text) })
        } catch {
            throw CommandFailure(error.description)
        }
        let config: StudioConfig
        do {
            config = try StudioConfig.current()
        } catch {
            throw CommandFailure(error.description)
        }
        let model: StableDiffusionModel
        do {
            model = try options.withTinyDecoder(ModelLocator.load(path: options.model, prediction: options.prediction?.type,
                                                                  weightType: try options.weightTypeOrConfigured()))
        } catch let error as CustomStringConvertible {
            throw CommandFailure(error.description)
        }
        var base = try options.initialRequest(for: model, config: config).request
        base.preview = .off
        if base.seed == nil { base.seed = UInt64(UInt32.random(in: 0...UInt32.max)) }  // one seed for every cell
        if let initImage = options.initImage {
            base.initImage = try Generate.loadInitImage(initImage, width: options.width, height: options.height)
        }
        let cells: Int
        do {
            cells = try GridRunner.cells(of: plan, base: base).count
        } catch {
            throw CommandFailure(error.description)
        }
        let folder = OutputFolder(url: URL(fileURLWithPath: options.outputDir ?? config.outputDirectory ?? "outputs"))
        try checkOutputWritable(output, folder: folder, bytes: GridRunner.pngBytes(plan: plan, cell: base.size(for: model)))
        FileHandle.standardError.write(Data("stipple: grid of \(cells) cells (\(plan.summary)) on \(TerminalText.visible(model.name)), seed \(base.seed ?? 0)\n".utf8))

        let control = GenerationControl()
        let interrupts = InterruptHandler { control.cancel() }
        defer { interrupts.restore() }
        var view = GridView(plan: plan, prompt: base.prompt)
        var texts = [String?](repeating: nil, count: cells)
        var hashes: [ObjectIdentifier: String?] = [:]
        var started = Date()
        do {
            try GridRunner.run(plan: plan, base: base, model: model, loadModel: { name in
                try options.withTinyDecoder(ModelLocator.load(path: name, weightType: try options.weightTypeOrConfigured()))
            }, control: control, observe: { _, event in
                if case .started = event { started = Date() }
            }, finished: { index, outcome in
                let (row, column) = (index / plan.columns, index % plan.columns)
                let label = [plan.x.label(column), plan.y?.label(row)].compactMap { $0 }.joined(separator: ", ")
                switch outcome {
                case .image(let image, let cellModel):
                    view.cells[index] = image.image
                    let hash = hashes[ObjectIdentifier(cellModel)] ?? ImageSaver.modelHash(of: cellModel)
                    hashes[ObjectIdentifier(cellModel)] = hash
                    texts[index] = ImageSaver(model: cellModel, modelHash: hash).infotext(for: image).text
                    FileHandle.standardError.write(Data(String(format: "stipple: cell %d/%d (%@): %.2fs\n", index + 1, cells,
                                                               TerminalText.visible(label), Date().timeIntervalSince(started)).utf8))
                case .failed(let why):
                    view.failures[index] = why
                    FileHandle.standardError.write(Data("stipple: cell \(index + 1)/\(cells) (\(TerminalText.visible(label))) failed: \(TerminalText.visible(why))\n".utf8))
                }
            })
        } catch .cancelled {
            FileHandle.standardError.write(Data("stipple: cancelled; nothing was saved\n".utf8))
            throw ExitCode(130)
        } catch {
            throw CommandFailure(error.description)
        }
        view.finished = true
        let picture = PanePictures.grid(view, light: light)
        do {
            let png = try GridRunner.png(plan: plan, picture: picture, cellTexts: texts)
            let url = try output.map { try OutputFolder.saveNew(png, to: URL(fileURLWithPath: $0)) }
                ?? folder.save(png, seed: base.seed ?? 0, suffix: "grid")
            print(url.path)
        } catch {
            throw CommandFailure("\(error)")
        }
        if view.cells.allSatisfy({ $0 == nil }) { throw CommandFailure("every cell failed") }
    }
}
