/// CLIP's byte-level BPE tokenizer (OpenAI's 49,408-token vocabulary, used by SD1 and, with a
/// different pad token, by SD2's OpenCLIP text encoder). Matches transformers' `CLIPTokenizer`
/// (tokenizers backend, no ftfy): special tokens split out of the raw text, then NFC, whitespace runs
/// to one space, lowercase, the CLIP pre-split pattern, byte-level characters, BPE with `</w>` on the
/// last symbol of each word. Encoded words are cached; copies share the cache.
public struct CLIPTokenizer: Sendable {
    /// Tokens in a text encoder window: BOS, up to 75 tokens, EOS, padding.
    public static let windowLength = 77
    /// Prompt tokens that fit in one window.
    public static let tokensPerWindow = windowLength - 2

    /// Id of `<|startoftext|>` (49406).
    public let bos: Int
    /// Id of `<|endoftext|>` (49407), also SD1's pad token.
    public let eos: Int
    /// Tokens in the vocabulary (49,408).
    public var vocabularySize: Int { vocabulary.tokens.count }

    let vocabulary: BPEVocabulary
    let cache = WordCache()

    /// The tokenizer for the text of the merges file `bpe_simple_vocab_16e6.txt` (header line
    /// optional; only the first 48,894 merges are read). Throws `LoadingError` on malformed text.
    public init(mergesText: String) throws {
        vocabulary = try BPEVocabulary(mergesText: mergesText)
        bos = vocabulary.startOfText
        eos = vocabulary.endOfText
    }

    /// Token ids of `text`, without BOS and EOS. `<|startoftext|>` and `<|endoftext|>` written in the
    /// text (exactly so) become their special ids.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in Self.specialSegments(of: text) {
            switch segment {
            case .special(.startOfText): ids.append(bos)
            case .special(.endOfText): ids.append(eos)
            case .text(let part): encodeText(part, into: &ids)
            }
        }
        return ids
    }

    /// One text-encoder window: BOS, the first 75 of `ids`, EOS, then `padWith` up to 77 tokens.
    /// SD1 pads with `eos`; SD2 (OpenCLIP) pads with 0 (`!`); see `PadToken`.
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

    private func encodeText(_ text: String, into ids: inout [Int]) {
        let scalars = Self.normalized(text)
        Self.forEachWord(in: scalars) { word in
            ids += cache.ids(for: word, encode: vocabulary.encodeWord)
        }
    }
}
