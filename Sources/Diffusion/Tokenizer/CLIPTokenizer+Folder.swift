import Foundation
import UserFiles

/// Reading a model folder's own tokenizer, as transformers' `CLIPTokenizer.from_pretrained` does.
///
/// Two layouts exist. Every Stable Diffusion download has the files transformers 4 wrote:
/// `vocab.json` (token -> id), `merges.txt` (an optional `#version` line, then one `left right`
/// merge per line, in rank order), `special_tokens_map.json` and `tokenizer_config.json`. A folder
/// saved by transformers 5 has `tokenizer.json` (vocabulary, merges and added tokens in one file)
/// and `tokenizer_config.json`; when it is there it is the one read, as transformers does.
///
/// The special tokens follow the files too. SD1 pads with `<|endoftext|>`; SD2 names `!` (id 0)
/// as its pad token, which makes transformers cut every `!` out of the prompt as that special token
/// (so `wow!!!` ends in three 0s, not in the merged `!!!`), and diffusers' SD2 conditioning with it.
/// Special tokens a file marks `"normalized": true` are found after NFC and lower-casing, so an
/// SD2 folder takes `<|ENDOFTEXT|>` as the end-of-text token; the rest only as written.
extension CLIPTokenizer {
    /// Why a model's tokenizer folder could not be read: one line naming the file and the problem.
    public struct FolderError: Error, CustomStringConvertible, Equatable, Sendable {
        /// The file or folder concerned.
        public var path: String
        /// What is wrong with it.
        public var problem: String

        public init(path: String, problem: String) {
            self.path = path
            self.problem = problem
        }

        public var description: String { "\(path): \(problem)" }
    }

    /// The tokenizer of the diffusers model folder `model`, in its `component` folder.
    public init(model: String, component: String = "tokenizer") throws(FolderError) {
        try self.init(folder: URL(fileURLWithPath: model).appendingPathComponent(component).path)
    }

    /// The tokenizer saved in `folder` (a diffusers model's `tokenizer/`): its vocabulary, merges,
    /// special tokens and pad token. Any text can be encoded: every byte-level character must be
    /// in the vocabulary, with and without `</w>`.
    public init(folder: String) throws(FolderError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            let problem = FileManager.default.fileExists(atPath: folder) ? "not a folder" : "no such tokenizer folder"
            throw FolderError(path: folder, problem: problem)
        }
        let files = TokenizerFiles(folder: folder)
        let config = try files.object("tokenizer_config.json") ?? [:]

        let vocabulary: BPEVocabulary
        let ids: [String: Int]
        var added: [SpecialToken] = []
        if let json = try files.tokenizerJSON() {
            ids = json.model.vocab
            vocabulary = try files.vocabulary(ids: ids, merges: json.model.merges.map { ($0.left, $0.right) },
                                              file: "tokenizer.json", place: { "merge \($0 + 1)" })
            added = try (json.added_tokens ?? []).map { token throws(FolderError) in
                guard vocabulary.tokens.indices.contains(token.id) else {
                    throw files.error("tokenizer.json", "added token \(token.content.debugDescription) has id \(token.id), outside the \(ids.count)-token vocabulary")
                }
                return SpecialToken(text: token.content, id: token.id, normalized: token.normalized ?? !(token.special ?? false))
            }
        } else {
            ids = try files.vocabJSON()
            let (pairs, lines) = try files.mergesText()
            vocabulary = try files.vocabulary(ids: ids, merges: pairs, file: "merges.txt", place: { "line \(lines[$0])" })
        }

        // The named special tokens: tokenizer_config.json's, which special_tokens_map.json overrides
        // in the folders transformers 4 wrote (those whose config has no `added_tokens_decoder`).
        var roles = config
        var roleFile = Dictionary(uniqueKeysWithValues: config.keys.map { ($0, "tokenizer_config.json") })
        if let decoder = config["added_tokens_decoder"] as? [String: Any] {
            added = try decoder.sorted { $0.key < $1.key }.map { key, value throws(FolderError) in
                guard let id = Int(key), let entry = value as? [String: Any], let content = entry["content"] as? String,
                      vocabulary.tokens.indices.contains(id) else {
                    throw files.error("tokenizer_config.json", "added_tokens_decoder entry \(key.debugDescription) is not an in-vocabulary id with a content")
                }
                let special = entry["special"] as? Bool ?? false
                return SpecialToken(text: content, id: id, normalized: entry["normalized"] as? Bool ?? !special)
            }
        } else if let map = try files.object("special_tokens_map.json") {
            roles.merge(map) { _, override in override }
            for key in map.keys { roleFile[key] = "special_tokens_map.json" }
        }
        var named: [(role: String, token: SpecialToken)] = []
        for (role, fallback) in [("bos_token", "<|startoftext|>"), ("eos_token", "<|endoftext|>"),
                                 ("unk_token", "<|endoftext|>"), ("pad_token", "<|endoftext|>")] {
            let file = roleFile[role] ?? "tokenizer_config.json"
            let (text, normalized) = try files.specialToken(roles[role], role: role, file: file) ?? (fallback, false)
            if let known = added.first(where: { $0.text == text }) {
                named.append((role, known))
                continue
            }
            guard let id = ids[text] else {
                if role == "unk_token" { continue }  // never needed: every byte has a token
                throw files.error(roles[role] == nil ? (files.exists("tokenizer.json") ? "tokenizer.json" : "vocab.json") : file,
                                  "\(role) \(text.debugDescription) is not in the vocabulary")
            }
            named.append((role, SpecialToken(text: text, id: id, normalized: normalized)))
        }
        // One entry per text; a later role's flags replace an earlier one's, as transformers registers them.
        var specials = added
        for (_, token) in named {
            specials.removeAll { $0.text == token.text }
            specials.append(token)
        }
        let id = { (role: String) in named.first { $0.role == role }?.token.id ?? 0 }
        self.init(vocabulary: vocabulary, bos: id("bos_token"), eos: id("eos_token"), pad: id("pad_token"),
                  specialTokens: specials)
    }
}

extension CLIPTokenizer {
    /// This tokenizer padding with `token` (a token of its vocabulary, as vocab.json spells it),
    /// which is then also cut out of prompts as a special token, as transformers does with a
    /// named pad token. SD2's tokenizer is the bundled vocabulary with `withPadToken("!")`, for a
    /// checkpoint that comes without its tokenizer folder. Nil when `token` is not in the vocabulary.
    public func withPadToken(_ token: String) -> CLIPTokenizer? {
        guard let id = vocabulary.tokens.firstIndex(of: token) else { return nil }
        let specials = specialTokens.contains { $0.text == token } ? specialTokens
            : specialTokens + [SpecialToken(text: token, id: id, normalized: false)]
        return CLIPTokenizer(vocabulary: vocabulary, bos: bos, eos: eos, pad: id, specialTokens: specials)
    }
}

/// The files of one tokenizer folder, read with errors that name them.
private struct TokenizerFiles {
    let folder: String

    func path(_ name: String) -> String { URL(fileURLWithPath: folder).appendingPathComponent(name).path }

    func error(_ name: String, _ problem: String) -> CLIPTokenizer.FolderError {
        CLIPTokenizer.FolderError(path: path(name), problem: problem)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    func data(_ name: String) throws(CLIPTokenizer.FolderError) -> Data {
        do {
            return try UserFile.read(path(name))
        } catch {
            throw self.error(name, "cannot read: \(error.reason)")
        }
    }

    /// The JSON object in `name`, or nil when there is no such file.
    func object(_ name: String) throws(CLIPTokenizer.FolderError) -> [String: Any]? {
        guard exists(name) else { return nil }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data(name))
        } catch let error as CLIPTokenizer.FolderError {
            throw error
        } catch {
            throw self.error(name, "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw self.error(name, "not a JSON object") }
        return object
    }

    /// A special token as the config files write it: a string, or an object with `content` and
    /// `normalized` (absent: false). Nil when the role is not given.
    func specialToken(_ value: Any?, role: String, file: String) throws(CLIPTokenizer.FolderError) -> (String, Bool)? {
        switch value {
        case nil, is NSNull: return nil
        case let text as String: return (text, false)
        case let object as [String: Any]:
            guard let content = object["content"] as? String else {
                throw error(file, "\(role) has no string \"content\"")
            }
            return (content, object["normalized"] as? Bool ?? false)
        default:
            throw error(file, "\(role) is neither a string nor an object")
        }
    }

    /// `vocab.json`: token -> id.
    func vocabJSON() throws(CLIPTokenizer.FolderError) -> [String: Int] {
        guard exists("vocab.json") else {
            throw CLIPTokenizer.FolderError(path: folder, problem: "no vocab.json or tokenizer.json in this tokenizer folder")
        }
        do {
            return try JSONDecoder().decode([String: Int].self, from: data("vocab.json"))
        } catch let error as CLIPTokenizer.FolderError {
            throw error
        } catch {
            throw self.error("vocab.json", "not a JSON object of token -> integer id")
        }
    }

    /// `merges.txt`: the merges in rank order and the line number of each.
    func mergesText() throws(CLIPTokenizer.FolderError) -> (pairs: [(left: String, right: String)], lines: [Int]) {
        guard exists("merges.txt") else {
            throw CLIPTokenizer.FolderError(path: folder, problem: "no merges.txt beside vocab.json")
        }
        guard let text = String(data: try data("merges.txt"), encoding: .utf8) else {
            throw error("merges.txt", "not UTF-8 text")
        }
        var pairs: [(left: String, right: String)] = []
        var lines: [Int] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw error("merges.txt", "line \(index + 1) is not a merge `left right`: \(String(line).debugDescription)")
            }
            pairs.append((String(parts[0]), String(parts[1])))
            lines.append(index + 1)
        }
        return (pairs, lines)
    }

    /// `tokenizer.json` (transformers 5), or nil when there is none.
    func tokenizerJSON() throws(CLIPTokenizer.FolderError) -> TokenizerJSON? {
        guard exists("tokenizer.json") else { return nil }
        let json: TokenizerJSON
        do {
            json = try JSONDecoder().decode(TokenizerJSON.self, from: data("tokenizer.json"))
        } catch let error as CLIPTokenizer.FolderError {
            throw error
        } catch let error as DecodingError {
            throw self.error("tokenizer.json", "not a tokenizers BPE model: \(error.summary.text)")
        } catch {
            throw self.error("tokenizer.json", "not valid JSON")
        }
        guard json.model.type == nil || json.model.type == "BPE", json.model.end_of_word_suffix == BPEVocabulary.endOfWord else {
            throw self.error("tokenizer.json", "model is \(json.model.type ?? "?") with end-of-word suffix "
                + "\((json.model.end_of_word_suffix ?? "none").debugDescription), not CLIP's BPE with \"</w>\"")
        }
        return json
    }

    /// The vocabulary, with its problems reported against `file` at `place(merge index)`.
    func vocabulary(ids: [String: Int], merges: [(left: String, right: String)], file: String,
                    place: (Int) -> String) throws(CLIPTokenizer.FolderError) -> BPEVocabulary {
        let vocabularyFile = file == "merges.txt" ? "vocab.json" : file
        do {
            return try BPEVocabulary(ids: ids, merges: merges)
        } catch {
            switch error {
            case .idsNotDense(let count):
                throw self.error(vocabularyFile, "token ids are not exactly 0..<\(count), one per token")
            case .missingByteToken(let token):
                throw self.error(vocabularyFile, "byte-level token \(token.debugDescription) is missing, so not every text can be encoded")
            case .unknownSymbol(let index, let symbol):
                throw self.error(file, "\(place(index)): \(symbol.debugDescription) is not in the vocabulary")
            case .unknownMergedToken(let index, let token):
                throw self.error(file, "\(place(index)): the merged token \(token.debugDescription) is not in the vocabulary")
            }
        }
    }
}

/// The parts of transformers 5's `tokenizer.json` a CLIP tokenizer needs.
private struct TokenizerJSON: Decodable {
    struct Model: Decodable {
        let type: String?
        let vocab: [String: Int]
        let merges: [Merge]
        let end_of_word_suffix: String?
    }

    /// A merge, written `"left right"` (tokenizers before 0.20) or `["left", "right"]`.
    struct Merge: Decodable {
        let left: String
        let right: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let parts: [String]
            if let text = try? container.decode(String.self) {
                parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = try container.decode([String].self)
            }
            guard parts.count == 2 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "a merge is two symbols")
            }
            left = parts[0]
            right = parts[1]
        }
    }

    struct AddedToken: Decodable {
        let id: Int
        let content: String
        let normalized: Bool?
        let special: Bool?
    }

    let model: Model
    let added_tokens: [AddedToken]?
}
