/// CLIP's byte-level BPE tokenizer (OpenAI's 49,408-token vocabulary, used by SD1 and, with a
/// different pad token, by SD2's OpenCLIP text encoder). Matches transformers' `CLIPTokenizer`
/// (tokenizers backend, no ftfy): special tokens split out of the raw text, then NFC, whitespace runs
/// to one space, lowercase, the CLIP pre-split pattern, byte-level characters, BPE with `</w>` on the
/// last symbol of each word. Encoded words are cached; copies share the cache.
///
/// Made from the merges shipped with stipple (`bundled()`) or from a model folder's own
/// `tokenizer/` (`init(folder:)`), whose special tokens and pad token it then follows.
public struct CLIPTokenizer: Sendable {
    /// Tokens in a text encoder window: BOS, up to 75 tokens, EOS, padding.
    public static let windowLength = 77
    /// Prompt tokens that fit in one window.
    public static let tokensPerWindow = windowLength - 2

    /// Id of `<|startoftext|>` (49406).
    public let bos: Int
    /// Id of `<|endoftext|>` (49407), also SD1's pad token.
    public let eos: Int
    /// Id of the token that fills a window after EOS, as the model's tokenizer says: `<|endoftext|>`
    /// for the bundled merges and SD1 folders, `!` (0) for SD2 folders.
    public let pad: Int
    /// Tokens in the vocabulary (49,408).
    public var vocabularySize: Int { vocabulary.tokens.count }

    let vocabulary: BPEVocabulary
    /// Tokens cut out of the text whole, each standing for its own id (transformers' special
    /// "added tokens"): `<|startoftext|>` and `<|endoftext|>`, and in SD2 folders also the pad token `!`.
    let specialTokens: [SpecialToken]
    /// The special tokens matched in the raw text, as UTF-8.
    private let rawSpecials: [(pattern: [UInt8], id: Int)]
    /// The special tokens matched in the normalized text, as normalized scalars.
    private let normalizedSpecials: [(pattern: [Unicode.Scalar], id: Int)]
    let cache = WordCache()

    /// A token written in the text that stands for itself rather than being split into words.
    struct SpecialToken: Sendable, Equatable {
        /// Its text, as the tokenizer files write it.
        let text: String
        /// Its id.
        let id: Int
        /// Found in the normalized text (NFC, one space, lowercase) rather than in the raw text.
        let normalized: Bool
    }

    /// The tokenizer for the text of the merges file `bpe_simple_vocab_16e6.txt` (header line
    /// optional; only the first 48,894 merges are read). Throws `LoadingError` on malformed text.
    public init(mergesText: String) throws {
        let vocabulary = try BPEVocabulary(mergesText: mergesText)
        let bos = vocabulary.tokens.count - 2, eos = vocabulary.tokens.count - 1
        self.init(vocabulary: vocabulary, bos: bos, eos: eos, pad: eos, specialTokens: [
            SpecialToken(text: "<|startoftext|>", id: bos, normalized: false),
            SpecialToken(text: "<|endoftext|>", id: eos, normalized: false),
        ])
    }

    init(vocabulary: BPEVocabulary, bos: Int, eos: Int, pad: Int, specialTokens: [SpecialToken]) {
        self.vocabulary = vocabulary
        self.bos = bos
        self.eos = eos
        self.pad = pad
        self.specialTokens = specialTokens
        rawSpecials = specialTokens.filter { !$0.normalized && !$0.text.isEmpty }.map { (Array($0.text.utf8), $0.id) }
        normalizedSpecials = specialTokens.filter(\.normalized).map { (Self.normalized($0.text), $0.id) }.filter { !$0.pattern.isEmpty }
    }

    /// Token ids of `text`, without BOS and EOS. Special tokens written in the text become their
    /// ids: `<|startoftext|>` and `<|endoftext|>` exactly so (with the bundled merges; a folder's
    /// `tokenizer_config.json` may let them match in any case), and an SD2 folder's pad token `!`.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        let bytes = Array(text.utf8)
        for segment in Self.specialSegments(of: bytes, specials: rawSpecials) {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let range):
                let scalars = Self.normalized(String(decoding: bytes[range], as: UTF8.self))
                for piece in Self.specialSegments(of: scalars, specials: normalizedSpecials) {
                    switch piece {
                    case .special(let id): ids.append(id)
                    case .text(let words): encodeWords(words == scalars.indices ? scalars : Array(scalars[words]), into: &ids)
                    }
                }
            }
        }
        return ids
    }

    /// One text-encoder window: BOS, the first 75 of `ids`, EOS, then `padWith` up to 77 tokens.
    /// SD1 pads with `eos`; SD2 (OpenCLIP) pads with 0 (`!`); see `pad` and `PadToken`.
    public func window(_ ids: [Int], padWith pad: Int) -> [Int] {
        var window = [bos]
        window.reserveCapacity(Self.windowLength)
        window += ids.prefix(Self.tokensPerWindow)
        window.append(eos)
        window += repeatElement(pad, count: Self.windowLength - window.count)
        return window
    }

    /// One text-encoder window padded with `pad`'s id.
    public func window(_ ids: [Int], pad: PadToken) -> [Int] {
        window(ids, padWith: pad.id(in: self))
    }

    /// Text of token `id` as it is in vocab.json (byte-level characters, `</w>` ending a word), or nil.
    public func token(_ id: Int) -> String? {
        vocabulary.tokens.indices.contains(id) ? vocabulary.tokens[id] : nil
    }

    /// The token that fills a window after EOS.
    public enum PadToken: Sendable {
        /// `<|endoftext|>` (49407): OpenAI CLIP, Stable Diffusion 1.x.
        case endOfText
        /// `!` (0): OpenCLIP, Stable Diffusion 2.x.
        case exclamationMark

        /// The pad token's id in `tokenizer`.
        public func id(in tokenizer: CLIPTokenizer) -> Int {
            switch self {
            case .endOfText: tokenizer.eos
            case .exclamationMark: 0
            }
        }
    }

    private func encodeWords(_ scalars: [Unicode.Scalar], into ids: inout [Int]) {
        Self.forEachWord(in: scalars) { word in
            ids += cache.ids(for: word, encode: vocabulary.encodeWord)
        }
    }
}
