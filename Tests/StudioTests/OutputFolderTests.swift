import Foundation
import Imaging
import Testing
@testable import Studio

@Suite struct OutputFolderTests {
    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("stipple-test-\(UUID().uuidString)")
    }

    @Test func numbersFilesLikeA1111AndNeverOverwrites() throws {
        let folder = OutputFolder(url: Self.temporaryFolder())
        defer { try? FileManager.default.removeItem(at: folder.url) }
        let png = try PNG.encode(RGBImage(width: 2, height: 2), texts: [PNGText(key: "parameters", value: "a\nSeed: 42")])
        let first = try folder.save(png, seed: 42)
        let second = try folder.save(png, seed: 42)
        #expect(first.lastPathComponent == "00000-42.png")
        #expect(second.lastPathComponent == "00001-42.png")
        // A file someone else wrote with a higher number: we continue after it and leave it alone.
        let foreign = folder.url.appendingPathComponent("00007-1.png")
        try Data("keep me".utf8).write(to: foreign)
        #expect(try folder.save(png, seed: 9).lastPathComponent == "00008-9.png")
        #expect(try Data(contentsOf: foreign) == Data("keep me".utf8))
        #expect(try PNG.read(path: second.path).text("parameters") == "a\nSeed: 42")
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        #expect(names == ["00000-42.png", "00001-42.png", "00007-1.png", "00008-9.png"])
    }

    /// A save killed by SIGKILL leaves its temporary file; the next use of the folder removes it
    /// when its writer is gone (or it is old), and the gallery never lists it (issue 12, finding 11).
    @Test func staleTemporaryFilesAreRemovedOnNextUse() throws {
        let folder = OutputFolder(url: Self.temporaryFolder())
        try FileManager.default.createDirectory(at: folder.url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder.url) }
        // A process that has ended: its id names a leftover.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let dead = ".stipple-\(ended.processIdentifier)-123.tmp"
        let live = ".stipple-\(getpid())-456.tmp"  // a save in progress (ours): kept
        let old = ".stipple-\(getpid())-789.tmp"   // an id that may have been reused, but an hour old
        let foreign = ".other-1-2.tmp"
        for name in [dead, live, old, foreign] {
            try Data("partial png".utf8).write(to: folder.url.appendingPathComponent(name))
        }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)],
                                              ofItemAtPath: folder.url.appendingPathComponent(old).path)
        let png = try PNG.encode(RGBImage(width: 2, height: 2), texts: [PNGText(key: "parameters", value: "a\nSeed: 1")])
        _ = try folder.save(png, seed: 1)
        var names = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        #expect(names == [foreign, live, "00000-1.png"].sorted())

        // The gallery cleans up as well, and lists only the image.
        try Data("partial png".utf8).write(to: folder.url.appendingPathComponent(dead))
        let gallery = Gallery.load(folder: folder.url)
        #expect(gallery.entries.map(\.name) == ["00000-1.png"])
        names = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        #expect(!names.contains(dead))

        // Saving to a named file (--output) cleans its folder too.
        try Data("partial png".utf8).write(to: folder.url.appendingPathComponent(dead))
        _ = try OutputFolder.saveNew(png, to: folder.url.appendingPathComponent("named.png"))
        names = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        #expect(names == [foreign, live, "00000-1.png", "named.png"].sorted())
    }

    @Test func concurrentWritersGetDistinctFiles() throws {
        let folder = OutputFolder(url: Self.temporaryFolder())
        defer { try? FileManager.default.removeItem(at: folder.url) }
        let results = UnsafeSendableBox<[String]>([])
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let url = try? folder.save([UInt8](repeating: UInt8(i), count: 10), seed: UInt64(i))
            lock.lock(); results.value.append(url?.lastPathComponent ?? "failed"); lock.unlock()
        }
        #expect(Set(results.value).count == 16)
        #expect(!results.value.contains("failed"))
    }

    @Test func unwritableFolderIsAOneLineError() throws {
        let file = Self.temporaryFolder()
        try Data("x".utf8).write(to: file)  // a file where the folder should be
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try OutputFolder(url: file).save([1, 2, 3], seed: 1)
            Issue.record("saving into a file succeeded")
        } catch {
            #expect(error.description.hasPrefix(file.path))
            #expect(!error.description.contains("\n"))
        }
    }
}

final class UnsafeSendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
