import Diffusion
import Foundation
import Imaging

/// The image pane's views beyond the timeline (issue 19): the forward process of an image (F9),
/// the current generation's trajectory (F10) and an X/Y comparison grid (F11). Each is drawn as
/// one picture (`PanePictures`) through the same sixel / kitty / half-block path as any image.
extension StudioState {
    public enum Pane: Sendable, Equatable {
        /// The viewed generation's steps (or a gallery image).
        case timeline
        /// q(x_t | x_0) of an image under the model's schedule, t scrubbed, with the schedules' curves.
        case forward
        /// The viewed generation's x0 estimates and how far each step moved the latent.
        case trajectory
        /// The X/Y grid being run, or the last one.
        case grid
    }
}

/// The forward view: the process (the image's latent and one draw of noise), the timestep asked
/// for, and the newest decoded frame (decodes run off the UI thread; scrubbing shows the newest).
public struct ForwardView: Sendable {
    public let process: ForwardProcess
    /// What the image is, for the title ("the image shown", a file's name).
    public let source: String
    /// The training timestep index asked for (0 ..< T).
    public var t: Int
    /// The newest decoded x_t and its timestep.
    public var frame: (t: Int, image: PixelImage)?
    /// The composed picture of `frame` (image, alpha-bar and SNR curves with the cursor at its t).
    public var picture: PixelImage?

    public init(process: ForwardProcess, source: String, t: Int) {
        (self.process, self.source) = (process, source)
        self.t = min(max(t, 0), process.count - 1)
    }

    /// One scrub step: a hundredth of the schedule (10 of 1000 timesteps).
    public var stride: Int { max(1, process.count / 100) }
}

/// A grid run: its plan, every cell's image or failure so far, and where it was saved.
public struct GridView: Sendable {
    public let plan: GridPlan
    /// The prompt (for the title).
    public let prompt: String
    /// Row-major: the image of each finished cell.
    public var cells: [PixelImage?]
    /// Row-major: why a cell failed.
    public var failures: [String?]
    /// The cell running now (nil when none).
    public var running: Int?
    /// Whether the run ended (all cells, or cancelled).
    public var finished = false
    public var cancelled = false
    /// The saved grid PNG.
    public var saved: URL?
    /// The composed grid.
    public var picture: PixelImage?

    public init(plan: GridPlan, prompt: String) {
        (self.plan, self.prompt) = (plan, prompt)
        cells = Array(repeating: nil, count: plan.rows * plan.columns)
        failures = Array(repeating: nil, count: plan.rows * plan.columns)
        running = 0
    }

    public var done: Int { zip(cells, failures).filter { $0 != nil || $1 != nil }.count }
}

extension StudioState {
    /// F9: the forward view on the image shown (or the init image when none is shown) — the
    /// controller encodes it (`.openForward`); again: back to the timeline.
    public mutating func toggleForward() -> [Effect] {
        if pane == .forward {
            pane = .timeline
            return []
        }
        if let shown = shownImage {
            let source: String
            switch shown.source {
            case .file(let url): source = url.lastPathComponent
            case .timeline: source = shown.step.map { "step \($0) of the generation" } ?? "the generated image"
            case .picture: source = "the picture shown"
            }
            focus = .image
            return [.openForward(shown.image, source)]
        }
        if let forward {
            pane = .forward
            focus = .image
            return [.forwardAt(forward.t)]
        }
        if !panel.initImage.isEmpty {
            focus = .image
            return [.openForwardFile(panel.initImage)]
        }
        setStatus("Nothing to noise yet: generate an image, open one from the gallery (F2), or set an init image.", .warning)
        return []
    }

    /// The forward view's timestep moved by `delta` (clamped); the new frame is asked for.
    public mutating func scrubForward(by delta: Int) -> [Effect] {
        guard var forward else { return [] }
        forward.t = min(max(forward.t + delta, 0), forward.process.count - 1)
        self.forward = forward
        return [.forwardAt(forward.t)]
    }

    public mutating func scrubForward(to t: Int) -> [Effect] {
        guard let forward else { return [] }
        return scrubForward(by: t - forward.t)
    }

    /// F10: the trajectory view of the viewed generation (again: back to the timeline).
    public mutating func toggleTrajectory() {
        if pane == .trajectory {
            pane = .timeline
            return
        }
        guard let timeline = viewedTimeline, timeline.frames.contains(where: { $0.trajectory != nil }) else {
            setStatus("No trajectory yet: generate an image (each step's movement is recorded as it runs).", .warning)
            return
        }
        pane = .trajectory
        focus = .image
    }

    /// F11: the grid line (X | Y axes) opens for typing, or closes.
    public mutating func toggleGridEditor() {
        if focus == .grid {
            focus = .prompt
            return
        }
        if gridLine.text.isEmpty { gridLine.text = "steps=5,10,20 | cfg=1,2,3,7" }
        focus = .grid
        if grid != nil { pane = .grid }
        setStatus("X/Y grid: NAME=V1,V2,... for X, then | and Y (steps, cfg, seed, sampler, schedule, model, prompt, strength); "
                  + "Enter runs it, Esc closes.")
    }

    /// Enter on the grid line: its plan, run from the panel's settings (`.runGrid`).
    public mutating func runGridLine() -> [Effect] {
        let prompt = self.prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            setStatus("Type a prompt first: every cell of the grid generates it.", .warning)
            return []
        }
        do {
            let plan = try GridPlan(parsing: gridLine.text)
            var base = panel.request(prompt: self.prompt.text, negative: negative.text)
            (base.batchCount, base.preview) = (1, .off)
            // Every cell must be valid before any runs (Prompt S/R's piece in the prompt, say).
            _ = try GridRunner.cells(of: plan, base: base)
            focus = .image
            return [.runGrid(plan, base)]
        } catch {
            setStatus(sentence: error.description, .error)
            return []
        }
    }
}

/// The pictures of the pane views, composed from plain values (tests compose them too).
public enum PanePictures {
    /// The plot colours on the studio's dark pane.
    static let theme = PlotTheme.dark

    /// The forward view: x_t at the frame's t (scaled up) beside alpha-bar and log SNR of the
    /// linear and cosine schedules and the model's own when it is neither, the cursor at t.
    public static func forward(_ view: ForwardView) -> PixelImage? {
        guard let frame = view.frame else { return nil }
        let side = 384
        var canvas = Canvas(width: side * 2, height: side, background: theme.background)
        let image = RGBImage(frame.image)
        canvas.draw(image: image, into: PixelRect(x: 8, y: 8, width: side - 16, height: side - 16))
        let model = view.process.curve
        var curves = [ScheduleCurve.linear, ScheduleCurve.cosine]
        if model.name != "linear" && model.name != "cosine" { curves.append(model) }
        let count = Double(model.count)
        func series(_ value: (ScheduleCurve, Int) -> Double) -> [PlotSeries] {
            curves.enumerated().map { index, curve in
                let stride = max(1, curve.count / 250)
                let points = Swift.stride(from: 0, to: curve.count, by: stride).map { t in
                    (x: Double(t) / Double(max(curve.count - 1, 1)) * (count - 1), y: value(curve, t))
                }
                let own = curve.name == model.name
                return PlotSeries(name: curve.name + (own ? " (model)" : ""), color: theme.palette[index % theme.palette.count],
                                  points: points, lineWidth: own ? 2.5 : 1.5)
            }
        }
        let cursor = PlotCursor(x: Double(frame.t), label: "t \(frame.t)")
        let signal = Plot(series: series { $0.signal[$1] }, xRange: (0, count - 1), yRange: (0, 1), title: "alpha-bar (signal kept)",
                          xTitle: "t", cursor: cursor, theme: theme)
        signal.draw(on: &canvas, in: PixelRect(x: side, y: 0, width: side, height: side / 2))
        let snr = Plot(series: series { max($0.snr($1), 1e-9) }, xRange: (0, count - 1), yRange: (1e-9, 1e5), yScale: .log10,
                       title: "SNR = abar / (1 - abar)", xTitle: "t", cursor: cursor, theme: theme, showsLegend: false)
        snr.draw(on: &canvas, in: PixelRect(x: side, y: side / 2, width: side, height: side / 2))
        return PixelImage(canvas.image)
    }

    /// The trajectory view: the x0 estimates of up to eight steps along the top, and below the
    /// plot of each step's movement of the latent and change of the estimate, the cursor at the
    /// scrubbed step.
    public static func trajectory(_ timeline: Timeline, frameIndex: Int?) -> PixelImage? {
        let steps = timeline.frames.filter { $0.trajectory != nil }
        guard !steps.isEmpty else { return nil }
        let (width, height) = (768, 384)
        var canvas = Canvas(width: width, height: height, background: theme.background)
        let withImages = timeline.frames.filter { $0.denoised != nil }
        let shown = min(8, withImages.count)
        let cell = width / 8
        for k in 0..<shown {
            let index = shown == 1 ? withImages.count - 1 : k * (withImages.count - 1) / (shown - 1)
            let frame = withImages[index]
            if let image = frame.denoised {
                canvas.draw(image: RGBImage(image), into: PixelRect(x: k * cell + 4, y: 4, width: cell - 8, height: cell - 8))
                canvas.text("\(frame.step)", x: k * cell + 6, y: cell - 2, theme.text)
            }
        }
        let movement = steps.map { (x: Double($0.step), y: Double($0.trajectory?.movement ?? .nan)) }
        let change = steps.map { (x: Double($0.step), y: Double($0.trajectory?.estimateChange ?? .nan)) }
        let at = frameIndex.flatMap { timeline.frames.indices.contains($0) ? timeline.frames[$0].step : nil } ?? steps.last?.step ?? 1
        let straight = timeline.straightness.map { String(format: "straightness %.2f", $0) } ?? ""
        let plot = Plot(series: [PlotSeries(name: "step movement (RMS)", color: theme.palette[0], points: movement),
                                 PlotSeries(name: "x0 estimate change", color: theme.palette[1], points: change, dashed: true)],
                        xRange: (1, Double(max(steps.last?.total ?? 1, 2))), title: "How far each step moved the latent" + (straight.isEmpty ? "" : " (\(straight))"),
                        xTitle: "step", cursor: PlotCursor(x: Double(at), label: "step \(at)"), theme: theme)
        plot.draw(on: &canvas, in: PixelRect(x: 0, y: cell + 12, width: width, height: height - cell - 12))
        return PixelImage(canvas.image)
    }

    /// The grid: the cells so far (a running cell drawn as "running", a failed one as "failed"),
    /// labelled with the axes' values, titled with the prompt.
    public static func grid(_ view: GridView, light: Bool = false) -> PixelImage {
        let plan = view.plan
        var rows: [[RGBImage?]] = []
        for row in 0..<plan.rows {
            rows.append((0..<plan.columns).map { column in view.cells[row * plan.columns + column].map(RGBImage.init) })
        }
        let largest = view.cells.compactMap { $0 }.map { max($0.width, $0.height) }.max() ?? 64
        let grid = LabelledGrid(title: view.prompt, columnLabels: (0..<plan.columns).map { plan.x.label($0) },
                                rowLabels: plan.y.map { axis in (0..<plan.rows).map { axis.label($0) } } ?? [""],
                                cells: rows, cellScale: max(1, 128 / max(largest, 1)), gap: 4, textScale: largest >= 64 ? 2 : 1,
                                missingText: view.finished ? "failed" : "...", theme: light ? .light : .dark)
        return PixelImage(grid.render())
    }
}
