import Diffusion
import Foundation
import Terminal

/// What a ComfyUI server offers, for the model panel and the sampler fields.
public struct ComfyUICatalog: Sendable, Equatable {
    /// `0.8.0` (`/system_stats` `comfyui_version`).
    public var version: String
    /// Checkpoints as the server names them (`/models/checkpoints`).
    public var checkpoints: [RemoteCheckpoint]
    /// KSampler's `sampler_name` and `scheduler` choices.
    public var samplers: [String]
    public var schedulers: [String]
    /// LoRA files (`/models/loras`), for `<lora:NAME>` tags.
    public var loras: [String]

    /// `ComfyUI 0.8.0`: what images made there record as their server.
    public var serverName: String { ComfyUIReplies.serverName(version: version) }
}

/// Reading ComfyUI's HTTP replies: lists, `/prompt`'s answers, `/history` entries, `/queue`.
/// Replies are untrusted: every field is checked for its type, lists and names are bounded, and
/// server text is made safe for a terminal before it reaches an error line.
enum ComfyUIReplies {
    /// The most names read from one list (a big model folder has a few thousand).
    static let maximumListCount = 100_000
    /// The longest name kept.
    static let maximumNameBytes = 1024
    /// The longest server text quoted in an error line.
    static let maximumQuoteLength = 300

    static func serverName(version: String?) -> String {
        version.map { "ComfyUI \($0)" } ?? "ComfyUI"
    }

    /// A list of names (`/models/...`), bounded; entries that are not short strings are left out.
    static func names(_ value: Any?) -> [String] {
        ((value as? [Any]) ?? []).prefix(maximumListCount).compactMap { entry in
            guard let name = entry as? String, !name.isEmpty, name.utf8.count <= maximumNameBytes else { return nil }
            return name
        }
    }

    /// An `/object_info/{Class}` reply's combo choices for `input` (`[[choices], {options}]`).
    static func choices(_ objectInfo: [String: Any], node: String, input: String) -> [String] {
        let required = ((objectInfo[node] as? [String: Any])?["input"] as? [String: Any])?["required"] as? [String: Any]
        return names((required?[input] as? [Any])?.first)
    }

    /// `/system_stats` -> `0.8.0`.
    static func version(_ stats: [String: Any]) -> String? {
        guard let version = (stats["system"] as? [String: Any])?["comfyui_version"] as? String,
              !version.isEmpty, version.utf8.count <= 64 else { return nil }
        return ComfyUIMessage.visible(version)
    }

    /// `/prompt`'s 400: one line from its `node_errors` (the first node's class and first error,
    /// with its details) or, with none, its `error` message and details.
    static func promptRefusal(_ body: [String: Any]) -> String {
        func line(_ error: [String: Any]?) -> String? {
            guard let error else { return nil }
            let message = (error["message"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            let details = (error["details"] as? String).flatMap { $0.isEmpty || $0 == message ? nil : $0 }
            let parts = [message, details].compactMap { $0 }
            return parts.isEmpty ? nil : parts.joined(separator: ": ")
        }
        var text: String?
        if let nodes = body["node_errors"] as? [String: Any], !nodes.isEmpty {
            let ids = nodes.keys.sorted { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }
            var lines: [String] = []
            for id in ids {
                guard let node = nodes[id] as? [String: Any] else { continue }
                let type = (node["class_type"] as? String) ?? "node \(id)"
                for error in ((node["errors"] as? [Any]) ?? []).prefix(ComfyUIMessage.maximumListCount) {
                    if let described = line(error as? [String: Any]) { lines.append("\(type): \(described)") }
                }
            }
            if let first = lines.first {
                text = lines.count > 1 ? "\(first) (and \(lines.count - 1) more)" : first
            }
        }
        text = text ?? line(body["error"] as? [String: Any])
        return quote(text ?? "no reason given")
    }

    /// Server text as one safe, bounded line.
    static func quote(_ text: String) -> String {
        let line = TerminalText.visible(text.split(whereSeparator: \.isNewline).joined(separator: " "))
        return line.count > maximumQuoteLength ? String(line.prefix(maximumQuoteLength - 3)) + "..." : line
    }

    /// A finished prompt's `/history/{id}` entry: how it ended and the files it wrote.
    struct HistoryEntry: Equatable {
        var outcome: ComfyUIJob.Outcome
        var files: [ComfyUIFile]
    }

    /// The entry for `id` in a `/history/{id}` reply; nil while the prompt is queued or running
    /// (ComfyUI answers `{}` until it ends).
    static func historyEntry(_ reply: [String: Any], id: String) -> HistoryEntry? {
        guard let entry = reply[id] as? [String: Any] else { return nil }
        let status = entry["status"] as? [String: Any]
        let messages = ((status?["messages"] as? [Any]) ?? []).suffix(64).compactMap { $0 as? [Any] }
        var outcome = ComfyUIJob.Outcome.succeeded
        switch status?["status_str"] as? String {
        case "success"?, nil: break
        case let other?:
            outcome = .failed("the prompt ended with status \(ComfyUIMessage.visible(other))")
            for message in messages.reversed() {
                guard message.count == 2, let event = message[0] as? String, let data = message[1] as? [String: Any] else { continue }
                if event == "execution_error" {
                    outcome = .failed(ComfyUIJob.failureLine(nodeType: data["node_type"] as? String,
                                                             message: (data["exception_message"] as? String) ?? ""))
                    break
                }
                if event == "execution_interrupted" {
                    outcome = .interrupted
                    break
                }
            }
        }
        var files: [ComfyUIFile] = []
        if let outputs = entry["outputs"] as? [String: Any] {
            for node in outputs.keys.sorted(by: { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }) {
                files += ComfyUIFile.list((outputs[node] as? [String: Any])?["images"])
            }
        }
        return HistoryEntry(outcome: outcome, files: files)
    }

    /// Whether `/queue` lists `id` as running or pending (entries are `[number, id, graph, ...]`).
    static func queueHolds(_ reply: [String: Any], id: String) -> Bool {
        for key in ["queue_running", "queue_pending"] {
            for item in ((reply[key] as? [Any]) ?? []).prefix(maximumListCount) {
                if let item = item as? [Any], item.count > 1, item[1] as? String == id { return true }
            }
        }
        return false
    }

    /// The `/view` path for a file, its query percent-encoded.
    static func viewPath(_ file: ComfyUIFile) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#/;")
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }
        return "/view?filename=\(encoded(file.filename))&subfolder=\(encoded(file.subfolder))&type=\(encoded(file.type))"
    }
}
