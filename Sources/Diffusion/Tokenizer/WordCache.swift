import Foundation
import Parallel

/// Token ids of words already encoded, shared by copies of a tokenizer and safe across threads.
/// Cleared when it reaches `capacity` words, so odd input cannot grow it without bound.
final class WordCache: Sendable {
    /// Most words kept before the cache starts over.
    let capacity: Int
    private let words = Locked<[[UInt8]: [Int]]>([:])

    init(capacity: Int = 32_768) {
        self.capacity = capacity
    }

    /// The ids of `word` (its UTF-8 bytes), computed by `encode` the first time.
    func ids(for word: [UInt8], encode: ([UInt8]) -> [Int]) -> [Int] {
        if let cached = words.withLock({ $0[word] }) { return cached }
        let ids = encode(word)
        words.withLock { words in
            if words.count >= capacity { words.removeAll(keepingCapacity: true) }
            words[word] = ids
        }
        return ids
    }

    /// Words currently cached.
    var count: Int { words.withLock { $0.count } }
}
