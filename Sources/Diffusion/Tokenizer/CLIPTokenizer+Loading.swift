import Foundation
import ShippedFiles
import UserFiles

extension CLIPTokenizer {
    /// File name of the merges shipped with stipple (Sources/Diffusion/Tokenizer/Resources/).
    public static let mergesFileName = "bpe_simple_vocab_16e6.txt"

    /// Why a tokenizer could not be made.
    public enum LoadingError: Error, Equatable, CustomStringConvertible {
        /// The merges file is in none of these places.
        case mergesFileNotFound(searched: [String])
        /// A merges line is not `left right` with known symbols, or repeats an earlier merge.
        case malformedMerge(line: Int, text: String)
        /// The text ends before CLIP's 48,894 merges.
        case tooFewMerges(found: Int, needed: Int)
        /// The file is not UTF-8.
        case notUTF8(path: String)

        public var description: String {
            switch self {
            case .mergesFileNotFound(let searched):
                "CLIP merges file \(CLIPTokenizer.mergesFileName) not found (looked in \(searched.joined(separator: ", ")))"
            case .malformedMerge(let line, let text):
                "CLIP merges file, line \(line): not a merge of known symbols: \(text.debugDescription)"
            case .tooFewMerges(let found, let needed):
                "CLIP merges file holds \(found) merges, \(needed) needed"
            case .notUTF8(let path):
                "CLIP merges file \(path) is not UTF-8 text"
            }
        }
    }

    /// The tokenizer for a merges file on disk (`bpe_simple_vocab_16e6.txt`, uncompressed).
    public init(contentsOf url: URL) throws {
        let data = try UserFile.read(url.path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw LoadingError.notUTF8(path: url.path)
        }
        try self.init(mergesText: text)
    }

    /// The tokenizer for the merges shipped with stipple (`ShippedFile.clipMerges`): in the Diffusion
    /// module's resource bundle under $STIPPLE_DATA, next to the executable or in its prefix's
    /// share/stipple, else in the source checkout it was built in.
    public static func bundled() throws -> CLIPTokenizer {
        let candidates = bundledMergesCandidates()
        guard let url = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0.path) }) else {
            throw LoadingError.mergesFileNotFound(searched: candidates.map(\.path))
        }
        return try CLIPTokenizer(contentsOf: url)
    }

    /// Where `bundled()` looks, in order.
    static func bundledMergesCandidates() -> [URL] {
        ShippedFile.clipMerges.candidates().map { URL(fileURLWithPath: $0) }
    }
}
