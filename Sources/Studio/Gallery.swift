import Diffusion
import Foundation
import Imaging

/// The images of this and earlier sessions: the PNG files of the output folder, newest first,
/// each with the parameters it was saved with (read from its text chunks without decoding the
/// pixels, so a folder of thousands lists in moments).
public struct Gallery: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var url: URL
        public var modified: Date
        public var width: Int
        public var height: Int
        /// The parameters of the image's first generation as A1111 infotext (`ImageMetadata`:
        /// A1111's, stipple's, ComfyUI's, Fooocus's, InvokeAI's, NovelAI's, SwarmUI's,
        /// stable-diffusion.cpp's); nil for PNGs without any.
        public var parameters: Infotext?
        /// What that generation records that stipple cannot use (`RecordedGeneration.notes`).
        public var notes: [String] = []

        public var name: String { url.lastPathComponent }
        public var prompt: String { parameters?.prompt ?? "" }
        public var seed: String? { parameters?["Seed"] }
        public var sampler: String? {
            guard let sampler = parameters?["Sampler"] else { return nil }
            if let schedule = parameters?["Schedule type"], schedule.lowercased() != "automatic" { return "\(sampler) \(schedule)" }
            return sampler
        }
        /// The step of an intermediate image saved with Ctrl-S.
        public var step: String? { parameters?["Step"] }

        /// Reads `url`'s size and generation texts (`ImageTexts`: text chunks, EXIF, stealth text in
        /// a text-less PNG's first rows); nil when it is not a readable image.
        public init?(url: URL) {
            guard let header = try? ImageTexts.read(path: url.path) else { return nil }
            self.url = url
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            modified = attributes?[.modificationDate] as? Date ?? Date(timeIntervalSince1970: 0)
            (width, height) = (header.width, header.height)
            // Over-long or unreadable metadata is left unread (as if absent), so one odd file cannot
            // stall the listing.
            let metadata = (try? ImageMetadata.read(texts: header.texts.map { ($0.key, $0.value) })) ?? nil
            let first = metadata?.generations.first
            parameters = first?.infotext
            notes = (metadata?.notes ?? []) + (first?.notes ?? [])
        }

        /// The settings to load back into the controls (A1111's "send to txt2img").
        public func request() throws(GenerationError) -> GenerationRequest {
            guard let parameters else { throw .invalid("\(name) has no generation parameters") }
            return try GenerationRequest(infotext: parameters)
        }
    }

    public var folder: URL
    /// Newest first.
    public private(set) var entries: [Entry] = []
    /// Index of the selected entry.
    public var selected = 0

    public init(folder: URL) {
        self.folder = folder
    }

    /// Lists `folder`'s PNG files (hidden and temporary files left out), newest first: by
    /// modification time, then by name (stipple's and A1111's running numbers). Temporary files
    /// that killed saves left behind are removed first.
    public static func load(folder: URL) -> Gallery {
        OutputFolder.removeStaleTemporaryFiles(in: folder)
        var gallery = Gallery(folder: folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        gallery.entries = names.filter { !$0.hasPrefix(".") && $0.lowercased().hasSuffix(".png") }
            .compactMap { Entry(url: folder.appendingPathComponent($0)) }
            .sorted { ($0.modified, $0.name) > ($1.modified, $1.name) }
        return gallery
    }

    /// Puts a newly saved file at the top (and keeps the selection on the entry it was on).
    public mutating func add(_ url: URL) {
        guard let entry = Entry(url: url), !entries.contains(where: { $0.url == url }) else { return }
        entries.insert(entry, at: 0)
        if entries.count > 1 { selected += 1 }
    }

    public var selectedEntry: Entry? { entries.indices.contains(selected) ? entries[selected] : nil }

    public mutating func move(by step: Int) {
        guard !entries.isEmpty else { return }
        selected = min(max(0, selected + step), entries.count - 1)
    }

    /// Prompts of the listed images, oldest first and without repeats: the prompt editor's history
    /// at start, so up-arrow brings back earlier sessions' prompts.
    public var promptHistory: [String] {
        Self.history(entries.map(\.prompt))
    }

    public var negativeHistory: [String] {
        Self.history(entries.map { $0.parameters?.negativePrompt ?? "" })
    }

    /// Non-empty texts of newest-first `texts`, each once at its newest place, oldest first.
    static func history(_ texts: [String]) -> [String] {
        var seen = Set<String>()
        return texts.filter { !$0.isEmpty && seen.insert($0).inserted }.reversed()
    }

    /// One line for the list: time, seed, sampler, prompt.
    public static func line(for entry: Entry, now: Date = Date()) -> String {
        var parts = [timeLabel(entry.modified, now: now)]
        if let seed = entry.seed { parts.append("#\(seed)") }
        if let sampler = entry.sampler { parts.append(sampler) }
        if let step = entry.step { parts.append("step \(step)") }
        let prompt = entry.prompt.replacingOccurrences(of: "\n", with: " ")
        parts.append(prompt.isEmpty ? entry.name : prompt)
        return parts.joined(separator: "  ")
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "HH:mm" for today, else "MMM d", in local time. Computed directly: the list is drawn on
    /// every refresh, and a DateFormatter per line is costly to make.
    static func timeLabel(_ date: Date, now: Date) -> String {
        let calendar = Calendar.current
        if calendar.isDate(date, inSameDayAs: now) {
            let time = calendar.dateComponents([.hour, .minute], from: date)
            return String(format: "%02d:%02d", time.hour ?? 0, time.minute ?? 0)
        }
        let day = calendar.dateComponents([.month, .day], from: date)
        return "\(months[(day.month ?? 1) - 1]) \(day.day ?? 1)"
    }
}
