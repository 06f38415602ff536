import Diffusion
import Foundation

/// A generation server as the studio and `generate` use it, whatever its protocol: it runs jobs
/// (`GenerationBackend`), says who it is, and lists the checkpoints it holds.
public protocol RemoteBackend: GenerationBackend {
    /// The connection its requests go through (its `label` names the server in messages).
    var connection: RemoteConnection { get }

    /// Who answers, asked of the server each time (one small bounded request, so the status
    /// line's monitor sees a server go away): `ComfyUI 0.8.0`, `stable-diffusion.cpp sd-server`.
    func identify() async throws -> String

    /// The checkpoints the server holds, by its own names, and the one it uses when told none
    /// (A1111's loaded one; ComfyUI's first).
    func checkpoints() async throws -> (list: [RemoteCheckpoint], current: RemoteCheckpoint?)
}

extension RemoteBackend {
    /// The checkpoint `typed` names (nil: the server's current one), as a `RemoteCheckpoint`.
    public func checkpoint(named typed: String?) async throws -> RemoteCheckpoint {
        let (list, current) = try await checkpoints()
        if let typed, !typed.isEmpty {
            let name = try CheckpointMatch.find(typed, in: list.map(\.name), server: connection.label)
            if let found = list.first(where: { $0.name == name }) { return found }
        }
        guard let chosen = current ?? list.first else {
            throw CheckpointMatch.Failure(description: "\(connection.label) holds no checkpoints")
        }
        return chosen
    }
}

/// Finding the checkpoint a person typed among a server's names: exactly, else ignoring case,
/// folders and the extension (`juggernaut` for `SDXL/juggernautXL_v9.safetensors` needs the
/// whole stem; `juggernautXL_v9` finds it), else a unique part of a name. A1111's names carry the
/// hash in brackets (`v1-5-pruned.safetensors [6ce0161689]`): the name before it counts too.
public enum CheckpointMatch {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func find(_ typed: String, in names: [String], server: String) throws(Failure) -> String {
        if names.contains(typed) { return typed }
        let wanted = typed.lowercased()
        let exact = names.filter { forms(of: $0).contains(wanted) }
        if exact.count == 1 { return exact[0] }
        let partial = exact.isEmpty ? names.filter { $0.lowercased().contains(wanted) } : exact
        if partial.count == 1 { return partial[0] }
        let shown = (partial.isEmpty ? names : partial).prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
        let more = (partial.isEmpty ? names : partial).count > 5 ? ", ..." : ""
        if partial.isEmpty {
            throw Failure(description: "\(server) has no checkpoint \"\(typed)\"" + (names.isEmpty ? " (it lists none)" : " (it has \(shown)\(more))"))
        }
        throw Failure(description: "\"\(typed)\" names \(partial.count) checkpoints on \(server): \(shown)\(more); type more of the name")
    }

    /// The lower-cased forms a name answers to: whole, without A1111's ` [hash]`, without
    /// folders, without the extension.
    static func forms(of name: String) -> Set<String> {
        var forms: Set<String> = [name.lowercased()]
        var base = name.lowercased()
        if let bracket = base.range(of: " [", options: .backwards), base.hasSuffix("]") { base = String(base[..<bracket.lowerBound]) }
        forms.insert(base)
        let file = base.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? base
        forms.insert(file)
        for suffix in [".safetensors", ".ckpt", ".gguf", ".pt", ".bin", ".sft"] where file.hasSuffix(suffix) {
            forms.insert(String(file.dropLast(suffix.count)))
            forms.insert(String(base.dropLast(suffix.count)))
        }
        return forms
    }
}
