import Foundation

/// Token ids of words already encoded, shared by copies of a tokenizer and safe across threads.
/// Cleared when it reaches `capacity` words, so odd input cannot grow it without bound. Guarded by
/// an NSLock (a pthread mutex), which ThreadSanitizer understands; it reported every access under
/// Synchronization's futex-based `Mutex` as a race.
final class WordCache: @unchecked Sendable {  // `words` guarded by `lock`
    /// Most words kept before the cache starts over.
    let capacity: Int
    private let lock = NSLock()
    private var words: [[UInt8]: [Int]] = [:]

    init(capacity: Int = 32_768) {
        self.capacity = capacity
    }

    /// The ids of `word` (its UTF-8 bytes), computed by `encode` the first time.
    func ids(for word: [UInt8], encode: ([UInt8]) -> [Int]) -> [Int] {
        if let cached = lock.withLock({ words[word] }) { return cached }
        let ids = encode(word)
        lock.withLock {
            if words.count >= capacity { words.removeAll(keepingCapacity: true) }
            words[word] = ids
        }
        return ids
    }

    /// Words currently cached.
    var count: Int { lock.withLock { words.count } }
}
