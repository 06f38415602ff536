import Foundation
import Testing
@testable import Remote

/// A test server on 127.0.0.1 (an ephemeral port) that answers from a recorded-exchange fixture,
/// records every request, and can be told to misbehave in the ways real networks and servers do.
///
/// Plain POSIX sockets on threads, no NIO: the tests need full control over the bytes (a reply cut
/// in the middle, a frame whose length lies, bytes that are not HTTP at all), which a server
/// framework would refuse to produce. Everything is bounded in time: every wait is a poll in
/// 50 ms slices that gives up when the server stops, and `stop()` closes every socket and waits
/// for every thread.
final class ReplayServer: @unchecked Sendable {
    /// A request as it arrived.
    struct Request: Sendable {
        var method: String
        var path: String
        /// Query items, percent-decoded (the last one wins for a repeated name).
        var query: [String: String]
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        }
    }

    /// How the server answers a scripted (method, path) instead of from the fixture.
    enum Behaviour: Sendable {
        /// This status and body (JSON when it parses as JSON).
        case status(Int, String)
        /// Closes the connection without answering.
        case drop
        /// Never answers (until the client gives up or the server stops).
        case hang
        /// Writes these bytes, then closes.
        case partial([UInt8])
        /// Writes these bytes (not HTTP), then closes.
        case garbage([UInt8])
        /// Writes these bytes, then never writes again (a reply that stalls midway).
        case stall([UInt8])
        /// Waits, then answers as it would have.
        case slow(Duration)
        /// Answers 200 with a body of this many bytes (streamed in 64 KiB pieces), with a
        /// Content-Length when `announced`, else delimited by closing the connection.
        case large(Int, announced: Bool)
    }

    /// How a WebSocket misbehaves after the fixture frames it sends first.
    enum WebSocketBehaviour: Sendable {
        /// Closes the socket without a close frame after this many fixture frames (and a pause
        /// of 100 ms, so the drop is not in the same read as the upgrade reply: see
        /// `dropAtUpgrade`).
        case dropAfter(Int)
        /// Closes the socket right after the upgrade reply, which the client then reads with
        /// the end of the stream in one go.
        case dropAtUpgrade
        /// A frame with a reserved opcode (3).
        case badOpcode
        /// A binary frame that says 1000 bytes and holds 10, then the socket closes.
        case lyingLength
        /// A text frame that is not UTF-8.
        case invalidUTF8
        /// A binary frame that declares 2^40 bytes.
        case hugeLength
        /// A binary frame of this many bytes (a real one, for the size limit).
        case bigFrame(Int)
        /// A binary message of this many bytes in two fragments of about half each.
        case fragmented(Int)
    }

    let port: Int
    let fixture: ReplayFixture

    private let lock = NSLock()
    private var state = State()
    private let listener: Int32
    private let threads = DispatchGroup()

    private struct State {
        var stopping = false
        var sockets: Set<Int32> = []
        var requests: [Request] = []
        var used: Set<Int> = []
        var answered: Set<String> = []
        var scripts: [String: Behaviour] = [:]
        var webSocketScripts: [String: WebSocketBehaviour] = [:]
        var clientMessages: [WebSocketMessage] = []
        var unmatched: [String] = []
        var problems: [String] = []
    }

    init(fixture: ReplayFixture = ReplayFixture()) throws {
        self.fixture = fixture
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ReplayFixture.Problem(description: "socket: errno \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw ReplayFixture.Problem(description: "bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        threads.enter()
        Thread.detachNewThread { [self] in
            acceptLoop()
            threads.leave()
        }
    }

    convenience init(fixtureFile: String) throws {
        try self.init(fixture: ReplayFixture.load(fixtureFile))
    }

    deinit { stop() }

    var address: ServerAddress {
        get throws { try ServerAddress(parsing: "http://127.0.0.1:\(port)") }
    }

    var requests: [Request] { lock.withLock { state.requests } }
    /// Requests no exchange or script matched (answered 404).
    var unmatched: [String] { lock.withLock { state.unmatched } }
    /// What went wrong on the server's side (a wait_for that never came, a bad client frame).
    var problems: [String] { lock.withLock { state.problems } }
    /// Text and binary messages the client sent on WebSockets.
    var clientMessages: [WebSocketMessage] { lock.withLock { state.clientMessages } }

    func script(_ method: String, _ path: String, _ behaviour: Behaviour) {
        lock.withLock { state.scripts["\(method) \(path)"] = behaviour }
    }

    func scriptWebSocket(_ path: String, _ behaviour: WebSocketBehaviour) {
        lock.withLock { state.webSocketScripts[path] = behaviour }
    }

    /// Closes every socket and waits (at most 5 s) for every thread.
    func stop() {
        let sockets: Set<Int32>? = lock.withLock {
            guard !state.stopping else { return nil }
            state.stopping = true
            return state.sockets
        }
        guard let sockets else { return }
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        shutdown(listener, Int32(SHUT_RDWR))
        let finished = threads.wait(timeout: .now() + 5)
        close(listener)
        if finished != .success { Issue.record("replay server threads did not end within 5 s") }
    }

    private var stopping: Bool { lock.withLock { state.stopping } }

    // MARK: Connections

    private func acceptLoop() {
        while !stopping {
            guard waitReadable(listener, milliseconds: 50) else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            var yes: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            let admitted = lock.withLock { () -> Bool in
                guard !state.stopping else { return false }
                state.sockets.insert(fd)
                threads.enter()
                return true
            }
            guard admitted else {
                close(fd)
                continue
            }
            Thread.detachNewThread { [self] in
                serve(Connection(fd: fd, server: self))
                lock.withLock { _ = state.sockets.remove(fd) }
                close(fd)
                threads.leave()
            }
        }
    }

    /// Requests on one connection, until it closes (keep-alive, as AsyncHTTPClient uses it).
    private func serve(_ connection: Connection) {
        while let request = connection.readRequest() {
            lock.withLock { state.requests.append(request) }
            let key = "\(request.method) \(request.path)"
            if request.headers["upgrade"]?.lowercased() == "websocket" {
                serveWebSocket(connection, request)
                return
            }
            var behaviour = lock.withLock { state.scripts[key] }
            if case .slow(let delay) = behaviour {
                guard connection.pause(delay) else { return }
                behaviour = nil
            }
            switch behaviour {
            case .status(let code, let body):
                let isJSON = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) != nil
                connection.respond(status: code, contentType: isJSON ? "application/json" : "text/plain", body: Array(body.utf8))
            case .drop:
                return
            case .hang:
                connection.waitForClose()
                return
            case .partial(let bytes), .garbage(let bytes):
                connection.write(bytes)
                return
            case .stall(let bytes):
                connection.write(bytes)
                connection.waitForClose()
                return
            case .large(let count, let announced):
                let length = announced ? "Content-Length: \(count)" : "Connection: close"
                connection.write(Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\(length)\r\n\r\n".utf8))
                var sent = 0
                let piece = [UInt8](repeating: 0x41, count: 1 << 16)
                while sent < count, connection.write(Array(piece.prefix(count - sent))) { sent += piece.count }
                return
            case .slow, nil:
                guard let exchange = takeExchange(for: request) else {
                    lock.withLock { state.unmatched.append(key) }
                    connection.respond(status: 404, contentType: "application/json",
                                       body: Array("{\"error\": \"replay: no recorded exchange for \(key)\"}".utf8))
                    continue
                }
                connection.respond(status: exchange.status, contentType: exchange.contentType, body: exchange.body)
            }
            lock.withLock { _ = state.answered.insert(key) }
        }
    }

    /// The first unused exchange for the request (method, path, listed query items); repeating
    /// ones stay available.
    private func takeExchange(for request: Request) -> ReplayFixture.Exchange? {
        lock.withLock {
            for (index, exchange) in fixture.exchanges.enumerated()
            where exchange.method == request.method && exchange.path == request.path
                && exchange.query.allSatisfy({ request.query[$0.key] == $0.value })
                && (exchange.repeats || !state.used.contains(index)) {
                state.used.insert(index)
                return exchange
            }
            return nil
        }
    }

    private func serveWebSocket(_ connection: Connection, _ request: Request) {
        let script = lock.withLock { state.webSocketScripts[request.path] }
        if let behaviour = lock.withLock({ state.scripts["GET \(request.path)"] }) {
            switch behaviour {
            case .hang: connection.waitForClose()
            case .status(let code, let body): connection.respond(status: code, contentType: "text/plain", body: Array(body.utf8))
            case .garbage(let bytes), .partial(let bytes): connection.write(bytes)
            default: break
            }
            return
        }
        guard let exchange = takeExchange(for: request), let frames = exchange.frames,
              let key = request.headers["sec-websocket-key"] else {
            lock.withLock { state.unmatched.append("WebSocket \(request.path)") }
            connection.respond(status: 404, contentType: "text/plain", body: Array("no recorded WebSocket".utf8))
            return
        }
        let accept = Data(SHA1.digest(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
        connection.write(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n".utf8))
        lock.withLock { _ = state.answered.insert("GET \(request.path)") }
        if case .dropAtUpgrade = script { return }

        for (index, frame) in frames.enumerated() {
            if case .dropAfter(let count) = script, index >= count { break }
            if let waitFor = frame.waitFor {
                let deadline = Date().addingTimeInterval(10)
                while !lock.withLock({ state.answered.contains(waitFor) }) {
                    guard Date() < deadline, connection.handleClientFrames(milliseconds: 20) else {
                        lock.withLock { state.problems.append("wait_for \(waitFor) never came") }
                        return
                    }
                }
            }
            if frame.delayMilliseconds > 0 {
                let deadline = Date().addingTimeInterval(Double(frame.delayMilliseconds) / 1000)
                while Date() < deadline {
                    guard connection.handleClientFrames(milliseconds: 10) else { return }
                }
            }
            switch frame.payload {
            case .text(let text): connection.writeFrame(opcode: 1, Array(text.utf8))
            case .binary(let bytes): connection.writeFrame(opcode: 2, bytes)
            }
            guard connection.handleClientFrames(milliseconds: 0) else { return }
        }
        if script != nil {
            // The frames above reach the client on their own before the misbehaviour.
            guard connection.handleClientFrames(milliseconds: 100) else { return }
        }
        switch script {
        case .dropAfter, .dropAtUpgrade:
            return
        case .badOpcode:
            connection.write([0x83, 0x00])
        case .lyingLength:
            connection.write([0x82, 126, 0x03, 0xE8] + [UInt8](repeating: 7, count: 10))
            return
        case .invalidUTF8:
            connection.writeFrame(opcode: 1, [0xC3, 0x28, 0xFF, 0xFE])
        case .hugeLength:
            connection.write([0x82, 127, 0, 0, 0x01, 0, 0, 0, 0, 0] + [UInt8](repeating: 7, count: 16))
        case .bigFrame(let count):
            connection.writeFrame(opcode: 2, [UInt8](repeating: 7, count: count))
        case .fragmented(let count):
            connection.writeFrame(opcode: 2, [UInt8](repeating: 7, count: count / 2), final: false)
            connection.writeFrame(opcode: 0, [UInt8](repeating: 7, count: count - count / 2))
        case nil:
            switch exchange.end {
            case .drop: return
            case .close: connection.writeFrame(opcode: 8, [0x03, 0xE8])
            case .hold: break
            }
        }
        // Until the client closes (answering its close) or the server stops; at most 30 s.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, connection.handleClientFrames(milliseconds: 50) {}
    }

    fileprivate func noteClientMessage(_ message: WebSocketMessage) {
        lock.withLock { state.clientMessages.append(message) }
    }

    fileprivate func noteProblem(_ text: String) {
        lock.withLock { state.problems.append(text) }
    }

    fileprivate func isStopping() -> Bool { stopping }
}

/// True when `fd` has something to read (or is closed) within `milliseconds`.
private func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, milliseconds) > 0
}

/// One client connection: buffered reading with stop-aware waits, and writing.
private final class Connection {
    let fd: Int32
    unowned let server: ReplayServer
    private var buffer: [UInt8] = []
    private var closedByClient = false
    private var fragments: (opcode: UInt8, payload: [UInt8])?

    static let maxHead = 64 << 10
    static let maxBody = 64 << 20

    init(fd: Int32, server: ReplayServer) {
        self.fd = fd
        self.server = server
    }

    /// Reads more bytes, waiting up to `milliseconds` (-1: until data, close or stop). False when
    /// the connection is closed or the server stops.
    @discardableResult
    func fill(milliseconds: Int) -> Bool {
        let deadline = milliseconds < 0 ? Date.distantFuture : Date().addingTimeInterval(Double(milliseconds) / 1000)
        repeat {
            if server.isStopping() { return false }
            if waitReadable(fd, milliseconds: Int32(min(50, max(0, milliseconds < 0 ? 50 : milliseconds)))) {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 {
                    closedByClient = true
                    return false
                }
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
        } while Date() < deadline
        return !closedByClient
    }

    func readRequest() -> ReplayServer.Request? {
        var headEnd: Int?
        while true {
            if let end = findHeadEnd() {
                headEnd = end
                break
            }
            guard buffer.count < Self.maxHead, fill(milliseconds: -1) else { return nil }
        }
        guard let headEnd, let head = String(validating: buffer[0..<headEnd], as: UTF8.self) else { return nil }
        buffer.removeFirst(headEnd + 4)
        let lines = head.components(separatedBy: "\r\n")
        let parts = (lines.first ?? "").split(separator: " ")
        guard parts.count == 3 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = String(parts[1])
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if pathPart.count == 2 {
            for item in pathPart[1].split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(pair[0]).removingPercentEncoding ?? String(pair[0])
                let value = pair.count > 1 ? (String(pair[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(pair[1])) : ""
                query[name] = value
            }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard length >= 0, length <= Self.maxBody else { return nil }
        while buffer.count < length {
            guard fill(milliseconds: -1) else { return nil }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return .init(method: String(parts[0]), path: String(pathPart[0]), query: query, headers: headers, body: body)
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    func respond(status: Int, contentType: String?, body: [UInt8]) {
        var head = "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Status")\r\nContent-Length: \(body.count)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        write(Array((head + "\r\n").utf8) + body)
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Sleeps `delay` unless the server stops first (false then).
    func pause(_ delay: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
        while Date() < deadline {
            if server.isStopping() { return false }
            usleep(10_000)
        }
        return true
    }

    /// Never answers: waits until the client closes or the server stops.
    func waitForClose() {
        while fill(milliseconds: -1) { buffer.removeAll() }
    }

    // MARK: WebSocket frames

    func writeFrame(opcode: UInt8, _ payload: [UInt8], final: Bool = true) {
        var frame: [UInt8] = [(final ? 0x80 : 0) | opcode]
        switch payload.count {
        case 0..<126: frame.append(UInt8(payload.count))
        case 126..<65_536: frame += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: frame += [127] + (0..<8).map { UInt8(truncatingIfNeeded: payload.count >> (56 - $0 * 8)) }
        }
        write(frame + payload)
    }

    /// Reads and handles what the client sent within `milliseconds`: records text and binary
    /// messages, answers pings, answers a close (and then returns false, as on EOF or stop).
    func handleClientFrames(milliseconds: Int) -> Bool {
        if milliseconds > 0 || waitReadable(fd, milliseconds: 0) {
            guard fill(milliseconds: milliseconds) || !buffer.isEmpty else { return false }
        }
        while let (fin, opcode, payload) = takeFrame() {
            switch opcode {
            case 0x8:
                writeFrame(opcode: 8, Array(payload.prefix(2)))
                return false
            case 0x9:
                writeFrame(opcode: 0xA, payload)
            case 0xA:
                break
            case 0x0, 0x1, 0x2:
                var message: (opcode: UInt8, payload: [UInt8]) = opcode == 0 ? (fragments ?? (1, [])) : (opcode, [])
                message.payload += payload
                if fin {
                    fragments = nil
                    if message.opcode == 1, let text = String(validating: message.payload, as: UTF8.self) {
                        server.noteClientMessage(.text(text))
                    } else {
                        server.noteClientMessage(.binary(message.payload))
                    }
                } else {
                    fragments = message
                }
            default:
                server.noteProblem("client sent opcode \(opcode)")
                return false
            }
        }
        return !closedByClient && !server.isStopping()
    }

    /// One whole client frame from the buffer, unmasked; nil until it has all arrived.
    private func takeFrame() -> (fin: Bool, opcode: UInt8, payload: [UInt8])? {
        guard buffer.count >= 2 else { return nil }
        let fin = buffer[0] & 0x80 != 0
        let opcode = buffer[0] & 0x0F
        let masked = buffer[1] & 0x80 != 0
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
            guard length >= 0, length <= 1 << 20 else {
                server.noteProblem("client frame of \(length) bytes")
                buffer.removeAll()
                return nil
            }
        }
        let maskLength = masked ? 4 : 0
        guard buffer.count >= offset + maskLength + length else { return nil }
        if !masked { server.noteProblem("client frame not masked") }
        let mask = Array(buffer[offset..<(offset + maskLength)])
        var payload = Array(buffer[(offset + maskLength)..<(offset + maskLength + length)])
        if masked {
            for i in payload.indices { payload[i] ^= mask[i % 4] }
        }
        buffer.removeFirst(offset + maskLength + length)
        return (fin, opcode, payload)
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, read, closed).
func closedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
