import Foundation

/// `--trace-latency FILE`: each key's latency, from reading it to the refresh that shows its
/// effect, in ms, appended to the file when the studio ends.
struct LatencyTrace {
    let file: URL?
    /// Arrival times of keys whose effect is not on screen yet.
    private var pending: [Date] = []
    private(set) var latencies: [Double] = []

    init(file: URL?) {
        self.file = file
    }

    /// Keys were read now.
    mutating func keysRead() {
        if file != nil { pending.append(Date()) }
    }

    /// The screen was refreshed: the keys read before show their effect.
    mutating func refreshed() {
        guard !pending.isEmpty else { return }
        let now = Date()
        latencies += pending.map { now.timeIntervalSince($0) * 1000 }
        pending.removeAll()
    }

    /// Appends the latencies to the file.
    func write() {
        guard let file, !latencies.isEmpty else { return }
        let text = latencies.map { String(format: "%.3f", $0) }.joined(separator: "\n") + "\n"
        if let handle = try? FileHandle(forWritingTo: file) {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try? handle.close()
        } else {
            try? text.write(to: file, atomically: true, encoding: .utf8)
        }
    }
}
