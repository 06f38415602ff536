import Foundation

/// A folder of generated images named as AUTOMATIC1111 names them, `NNNNN-SEED.png` with a
/// running five-digit number, written atomically and never over an existing file.
public struct OutputFolder: Sendable {
    /// The folder.
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// What went wrong saving; the description is one line naming the path and the problem.
    public struct SaveError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The next free running number: one more than the largest `NNNNN-` prefix in the folder.
    public func nextNumber() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        let numbers = names.compactMap { name -> Int? in
            guard let dash = name.firstIndex(of: "-") else { return nil }
            return Int(name[..<dash])
        }
        return (numbers.max() ?? -1) + 1
    }

    /// Writes `bytes` as `NNNNN-<seed>.png` (or `NNNNN-<seed>-<suffix>.png`) and returns its URL.
    /// The data goes to a temporary file first and is then hard-linked to its final name, which
    /// fails rather than replaces when the name exists, so no file is ever overwritten or left
    /// half-written, even with several writers at once. Creates the folder when missing, and
    /// removes temporary files that killed processes left there.
    public func save(_ bytes: [UInt8], seed: UInt64, suffix: String? = nil) throws(SaveError) -> URL {
        try createFolder()
        Self.removeStaleTemporaryFiles(in: url)
        guard let temporary = Self.writeTemporary(bytes, in: url) else {
            throw SaveError(description: "\(url.path): cannot write an image there (\(String(cString: strerror(errno))))")
        }
        defer { unlink(temporary) }
        var number = nextNumber()
        for _ in 0..<10_000 {
            let name = String(format: "%05d-%llu", number, seed) + (suffix.map { "-" + $0 } ?? "") + ".png"
            let target = url.appendingPathComponent(name)
            if link(temporary, target.path) == 0 {
                return target
            }
            guard errno == EEXIST else {
                throw SaveError(description: "\(target.path): cannot save (\(String(cString: strerror(errno))))")
            }
            number += 1
        }
        throw SaveError(description: "\(url.path): no free file name")
    }

    /// Creates the folder (and its parents) when missing.
    func createFolder() throws(SaveError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SaveError(description: "\(url.path): cannot create the output folder (\(Self.reason(error)))")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}
