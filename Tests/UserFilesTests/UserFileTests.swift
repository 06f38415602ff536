import Foundation
import Testing
import UserFiles

/// Runs `body` on another thread and says whether it finished within `seconds`. When it did not
/// (it is blocked opening `fifo` for reading), a writer opens the FIFO so the thread can end.
func finishes(within seconds: Double, unblocking fifo: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .success { return true }
    let writer = open(fifo, O_WRONLY | O_NONBLOCK)
    if writer >= 0 { close(writer) }
    _ = done.wait(timeout: .now() + 5)
    return false
}

@Suite struct UserFileTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-userfile-\(UUID().uuidString)")

    func make() throws -> (file: String, fifo: String) {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("file.txt").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: file))
        let fifo = folder.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        return (file, fifo)
    }

    @Test func readsRegularFiles() throws {
        let (file, _) = try make()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try UserFile.read(file) == Data("hello".utf8))
        #expect(try UserFile.readText(file) == "hello")
        let empty = folder.appendingPathComponent("empty").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(try UserFile.read(empty) == Data())
    }

    @Test func refusesAFIFOWithoutBlocking() throws {
        let (_, fifo) = try make()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = UnsafeSendableResult()
        let finished = finishes(within: 5, unblocking: fifo) {
            do { _ = try UserFile.read(fifo) } catch { result.set("\(error)") }
        }
        #expect(finished, "reading a FIFO blocked")
        #expect(result.value == "\(fifo): is not a regular file (a FIFO)")
        #expect(throws: UserFile.Problem(path: fifo, reason: "is not a regular file (a FIFO)", code: 0)) {
            _ = try UserFile.open(fifo)
        }
    }

    @Test func namesWhatIsWrong() throws {
        let (_, _) = try make()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: UserFile.Problem(path: folder.path, reason: "is not a regular file (a folder)", code: 0)) {
            _ = try UserFile.read(folder.path)
        }
        #expect(throws: UserFile.Problem(path: "/dev/null", reason: "is not a regular file (a character device)", code: 0)) {
            _ = try UserFile.read("/dev/null")
        }
        let missing = folder.appendingPathComponent("missing").path
        let error = #expect(throws: UserFile.Problem.self) { _ = try UserFile.read(missing) }
        #expect(error?.isMissing == true && error?.description == "\(missing): no such file")
        let latin1 = folder.appendingPathComponent("latin1").path
        try Data([0x63, 0x61, 0x66, 0xE9]).write(to: URL(fileURLWithPath: latin1))
        #expect(throws: UserFile.Problem.self) { _ = try UserFile.readText(latin1) }
    }
}

/// A value set on another thread and read after it finished.
final class UnsafeSendableResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    func set(_ value: String) { lock.lock(); stored = value; lock.unlock() }
    var value: String? { lock.lock(); defer { lock.unlock() }; return stored }
}
