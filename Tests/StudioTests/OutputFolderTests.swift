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
