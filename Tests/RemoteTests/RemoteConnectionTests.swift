import Foundation
import Testing
@testable import Remote

/// The transport against the replay server: what a user sees when the server answers, fails,
/// hangs, lies or disappears. Every test is bounded: timeouts are fractions of a second and every
/// failure mode must end in a one-line error, never a crash or a hang.
@Suite struct RemoteConnectionTests {
    static let secret = "s3cret-T0ken"

    /// A connection to a replay server of the hand-written transport fixture.
    static func connect(
        _ server: ReplayServer, credentials: Credentials = .none, maxBodyBytes: Int = RemoteConnection.defaultMaxBodyBytes,
        maxMessageBytes: Int = RemoteConnection.defaultMaxMessageBytes
    ) throws -> RemoteConnection {
        // Pings every 0.5 s: a drop that swift-websocket misses is noticed within a second.
        RemoteConnection(address: try server.address, credentials: credentials, serverName: "ComfyUI",
                         maxBodyBytes: maxBodyBytes, maxMessageBytes: maxMessageBytes, webSocketPingInterval: .milliseconds(500))
    }

    static func server() throws -> ReplayServer { try ReplayServer(fixtureFile: "transport/basic.json") }

    /// The error `operation` throws (or a recorded issue when it does not throw).
    static func failure(_ operation: () async throws(RemoteError) -> Void) async -> RemoteError? {
        do {
            try await operation()
            Issue.record("expected a RemoteError")
            return nil
        } catch {
            #expect(!error.description.contains("\n"), "one line: \(error)")
            #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(error)")
            #expect(error.description.hasPrefix(error.server + ": "))
            return error
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Runs `operation` in a task, cancels the task 300 ms later and returns the error it ended
    /// with, which must be `.cancelled` and come within a second of the cancellation.
    static func cancelledAfter300Milliseconds(_ operation: @escaping @Sendable () async throws(RemoteError) -> Void) async throws -> RemoteError? {
        let task = Task { () async -> RemoteError? in
            do throws(RemoteError) {
                try await operation()
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        task.cancel()
        let error = await task.value
        #expect(seconds(since: start) < 1)
        #expect(error?.kind == .cancelled, "\(String(describing: error))")
        return error
    }

    // MARK: HTTP

    @Test func getAndPostJSONRoundTrip() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)

        let stats = try await connection.get("/system_stats", timeout: .seconds(5)).requireOK("/system_stats").jsonObject("/system_stats")
        #expect((stats["system"] as? [String: Any])?["comfyui_version"] as? String == "0.8.0")

        let graph: [String: Any] = ["client_id": "c1", "prompt": ["3": ["class_type": "KSampler", "inputs": ["seed": 42, "cfg": 7.5]]]]
        let reply = try await connection.postJSON("/prompt", json: graph, timeout: .seconds(5)).requireOK("/prompt")
        #expect(reply.contentType == "application/json")
        #expect(try reply.jsonObject("/prompt")["prompt_id"] as? String == "6f1c-recorded")

        let image = try await connection.get("/view?filename=a%20b.png&type=output&subfolder=", timeout: .seconds(5)).requireOK("/view")
        #expect(image.contentType == "image/png" && image.body.prefix(4) == [0x89, 0x50, 0x4E, 0x47])

        // The first /queue is used once, the repeating one after it answers every later poll.
        for expected in [1, 0, 0] {
            let queue = try await connection.get("/queue", timeout: .seconds(5)).jsonObject("/queue")
            #expect((queue["queue_running"] as? [Any])?.count == expected)
        }
        await connection.shutdown()

        let requests = server.requests
        #expect(requests.map { "\($0.method) \($0.path)" } == [
            "GET /system_stats", "POST /prompt", "GET /view", "GET /queue", "GET /queue", "GET /queue",
        ])
        let post = try #require(requests.first { $0.method == "POST" })
        #expect(post.headers["content-type"] == "application/json")
        #expect(post.headers["authorization"] == nil)
        let sent = try #require(post.json)
        #expect(sent["client_id"] as? String == "c1")
        let node = ((sent["prompt"] as? [String: Any])?["3"] as? [String: Any])?["inputs"] as? [String: Any]
        #expect(node?["seed"] as? Int == 42 && node?["cfg"] as? Double == 7.5)
        #expect(requests.first { $0.path == "/view" }?.query == ["filename": "a b.png", "type": "output", "subfolder": ""])
        #expect(server.unmatched.isEmpty)
    }

    @Test func aRequestNothingAnswersIsAStatusError() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        let reply = try await connection.get("/object_info", timeout: .seconds(5))
        #expect(reply.status == 404)
        let error = await Self.failure { () throws(RemoteError) in try reply.requireOK("/object_info") }
        let address = try server.address
        #expect(error?.description == "ComfyUI at \(address): GET /object_info: HTTP 404 Not Found: replay: no recorded exchange for GET /object_info")
        #expect(server.unmatched == ["GET /object_info"])
    }

    @Test func jsonThatIsNotAnObjectIsMalformed() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/list", .status(200, "[1, 2, 3]"))
        server.script("GET", "/html", .status(200, "<html>not json</html>"))
        let list = try await connection.get("/list", timeout: .seconds(5))
        #expect(try list.jsonArray("/list").count == 3)
        let notObject = await Self.failure { () throws(RemoteError) in _ = try list.jsonObject("/list") }
        #expect(notObject?.kind == .malformed("a JSON object"))
        let html = try await connection.get("/html", timeout: .seconds(5))
        let notJSON = await Self.failure { () throws(RemoteError) in _ = try html.jsonObject("/html") }
        #expect(notJSON?.description.hasSuffix("GET /html: unexpected reply (expected a JSON object)") == true)
    }

    @Test(arguments: [Credentials.bearer("s3cret-T0ken"), .basic(user: "alice", password: "s3cret-T0ken")])
    func theAuthorizationHeaderIsSentAndNeverShown(_ credentials: Credentials) async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server, credentials: credentials)
        defer { Task { await connection.shutdown() } }
        let expected = try #require(credentials.authorizationHeader)
        #expect(expected.hasPrefix("Bearer ") ? expected == "Bearer \(Self.secret)" : expected == "Basic " + Data("alice:\(Self.secret)".utf8).base64EncodedString())

        _ = try await connection.get("/system_stats", timeout: .seconds(5)).requireOK("/system_stats")
        try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { _ in false }
        #expect(server.requests.map { $0.headers["authorization"] } == [expected, expected])

        // Errors of every kind: none holds the secret, in the clear or encoded.
        server.script("GET", "/fail", .status(500, "{\"detail\": \"bad token \(Self.secret)?\"}"))
        server.script("GET", "/drop", .drop)
        server.script("GET", "/hang", .hang)
        var errors: [RemoteError?] = []
        errors.append(await Self.failure { () throws(RemoteError) in _ = try await connection.get("/drop", timeout: .seconds(5)) })
        errors.append(await Self.failure { () throws(RemoteError) in _ = try await connection.get("/hang", timeout: .milliseconds(200)) })
        errors.append(await Self.failure { () throws(RemoteError) in try await connection.webSocket("/nothing", connectTimeout: .seconds(5)) { _ in true } })
        let refused = RemoteConnection(address: try ServerAddress(parsing: "http://127.0.0.1:\(closedPort())"), credentials: credentials, serverName: "ComfyUI")
        errors.append(await Self.failure { () throws(RemoteError) in _ = try await refused.get("/x", timeout: .seconds(5)) })
        await refused.shutdown()
        for error in errors.compactMap({ $0 }) {
            let texts = [error.description, String(reflecting: error), "\(error.kind)"]
            for text in texts {
                #expect(!text.contains(Self.secret) && !text.contains(expected.dropFirst(6)), "\(text)")
            }
        }
        #expect(errors.count == 4)
        #expect(!"\(credentials)".contains(Self.secret) && !String(reflecting: credentials).contains(Self.secret))
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains(Self.secret))
    }

    @Test func serverErrorsBecomeOneLineWithTheServersMessage() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        let cases: [(body: String, code: Int, excerpt: String)] = [
            ("{\"detail\": \"CUDA out of memory.\\nTried to allocate 2 GiB\\u001b[31m\"}", 500, "CUDA out of memory. Tried to allocate 2 GiB[31m"),
            ("{\"error\": {\"type\": \"prompt_outputs_failed_validation\", \"message\": \"Prompt outputs failed validation\"}, \"node_errors\": {}}",
             400, "Prompt outputs failed validation"),
            ("{\"detail\": [{\"loc\": [\"body\", \"steps\"], \"msg\": \"value is not a valid integer\"}]}", 422, "value is not a valid integer"),
            ("<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1>nginx</body></html>", 502, "502 Bad Gateway 502 nginx"),
            ("\u{202E}evil\u{0007} text\r\n\r\n", 503, "evil text"),
            ("", 500, ""),
        ]
        for (index, item) in cases.enumerated() {
            server.script("POST", "/p\(index)", .status(item.code, item.body))
            let reply = try await connection.post("/p\(index)", body: [], contentType: "application/json", timeout: .seconds(5))
            let error = await Self.failure { () throws(RemoteError) in try reply.requireOK("/p\(index)") }
            #expect(error?.kind == .status(item.code, excerpt: item.excerpt))
        }
        let long = String(repeating: "a long line of server text ", count: 40)
        server.script("GET", "/long", .status(500, long))
        let reply = try await connection.get("/long", timeout: .seconds(5))
        let error = await Self.failure { () throws(RemoteError) in try reply.requireOK("/long") }
        guard case .status(500, let excerpt) = error?.kind else { Issue.record("\(String(describing: error))"); return }
        #expect(excerpt.count <= ReplyExcerpt.maxLength + 3 && excerpt.hasSuffix("..."))
        #expect(error?.description.contains("GET /long: HTTP 500 Internal Server Error: a long line") == true)
        #expect(ReplyExcerpt.make([0xFF, 0xFE, 0x00, 0x01]) == "4 bytes of binary")
    }

    @Test func aClosedPortIsUnreachableAtOnce() async throws {
        let connection = RemoteConnection(address: try ServerAddress(parsing: "http://127.0.0.1:\(closedPort())"), serverName: "A1111 API")
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/sdapi/v1/options", timeout: .seconds(30)) }
        #expect(Self.seconds(since: start) < 5.5)
        #expect(error?.kind == .unreachable("connection refused"))
        #expect(error?.description.hasSuffix(": GET /sdapi/v1/options: not reachable (connection refused)") == true)
        #expect(error?.description.hasPrefix("A1111 API at http://127.0.0.1:") == true)
        #expect(error?.isTransient == true)
        await connection.shutdown()
    }

    @Test func anUnknownHostIsUnreachable() async throws {
        // .invalid never resolves (RFC 2606); the resolver answers at once even offline.
        let connection = RemoteConnection(address: try ServerAddress(parsing: "http://no-such-host.invalid:8188"), serverName: "ComfyUI")
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/", timeout: .seconds(10)) }
        guard case .unreachable = error?.kind else { Issue.record("\(String(describing: error))"); return }
        await connection.shutdown()
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/history", .hang)
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/history", timeout: .milliseconds(500)) }
        let elapsed = Self.seconds(since: start)
        #expect(elapsed >= 0.45 && elapsed < 2.5)
        #expect(error?.kind == .timedOut(waitingFor: "reply", after: .milliseconds(500)))
        #expect(error?.description.hasSuffix("GET /history: no reply within 0.5 s") == true)
    }

    @Test func aReplyThatStallsMidwayTimesOut() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/view", .stall(Array("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n0123456789".utf8)))
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/view", timeout: .milliseconds(400)) }
        #expect(Self.seconds(since: start) < 2.5)
        #expect(error?.kind == .timedOut(waitingFor: "complete reply", after: .milliseconds(400)))
        #expect(error?.description.hasSuffix("GET /view: no complete reply within 0.4 s") == true)
    }

    @Test func slowRepliesWithinTheTimeoutArrive() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/system_stats", .slow(.milliseconds(300)))
        let reply = try await connection.get("/system_stats", timeout: .seconds(5)).requireOK("/system_stats")
        #expect(try reply.jsonObject("/system_stats")["system"] != nil)
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/system_stats", timeout: .milliseconds(100)) }
        #expect(error?.kind == .timedOut(waitingFor: "reply", after: .milliseconds(100)))
    }

    @Test func aReplyCutShortIsAConnectionLost() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/half", .partial(Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt_id\":".utf8)))
        server.script("GET", "/nothing", .drop)
        server.script("GET", "/head-only", .partial(Array("HTTP/1.1 200 OK\r\nContent-Le".utf8)))
        for path in ["/half", "/nothing", "/head-only"] {
            let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get(path, timeout: .seconds(5)) }
            guard case .connectionLost = error?.kind else { Issue.record("\(path): \(String(describing: error))"); continue }
            #expect(error?.isTransient == true)
        }
    }

    @Test func aBodyOverTheLimitIsRefusedWhileItStreams() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let limit = 1 << 20
        let connection = try Self.connect(server, maxBodyBytes: limit)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/announced", .large(8 << 20, announced: true))
        server.script("GET", "/unannounced", .large(8 << 20, announced: false))
        server.script("GET", "/exact", .large(limit, announced: false))
        for path in ["/announced", "/unannounced"] {
            let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get(path, timeout: .seconds(10)) }
            #expect(error?.kind == .tooLarge(limit: limit), "\(path)")
            #expect(error?.description.hasSuffix("GET \(path): reply larger than 1 MiB, not read") == true)
        }
        #expect(try await connection.get("/exact", timeout: .seconds(10)).body.count == limit)
        // The connection still works after a refused body.
        #expect(try await connection.get("/system_stats", timeout: .seconds(5)).status == 200)
    }

    @Test(arguments: [
        Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8),
        Array("HTTP/1.1 abc\r\n\r\n".utf8),
        [UInt8](repeating: 0, count: 300) + [0xFF, 0xD8, 0x1B, 0x5B],
        Array("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n".utf8),
        Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".utf8),
    ])
    func garbageInsteadOfHTTPIsAnError(_ bytes: [UInt8]) async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/g", .garbage(bytes))
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in _ = try await connection.get("/g", timeout: .seconds(3)) }
        #expect(Self.seconds(since: start) < 3.5)
        switch error?.kind {
        case .malformed, .connectionLost: break
        default: Issue.record("\(String(describing: error))")
        }
    }

    @Test func cancellingTheTaskEndsAHangingRequestAtOnce() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("POST", "/sdapi/v1/txt2img", .hang)
        let error = try await Self.cancelledAfter300Milliseconds { () throws(RemoteError) in
            _ = try await connection.postJSON("/sdapi/v1/txt2img", json: ["prompt": "x"], timeout: .seconds(600))
        }
        #expect(error?.description.hasSuffix("POST /sdapi/v1/txt2img: cancelled") == true)
    }

    // MARK: WebSocket

    /// Messages a WebSocket delivered, in order.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [WebSocketMessage] = []
        var messages: [WebSocketMessage] { lock.withLock { list } }
        func add(_ message: WebSocketMessage) { lock.withLock { list.append(message) } }
    }

    @Test func textAndBinaryFramesArriveInOrderAndACleanCloseReturns() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        let collected = Collected()
        let postedBeforeBinary = Collected()
        async let session: Void = connection.webSocket("/ws?clientId=c1", connectTimeout: .seconds(5)) { message in
            if case .binary = message, server.requests.contains(where: { $0.method == "POST" }) {
                postedBeforeBinary.add(message)
            }
            collected.add(message)
            return true
        }
        // The first frame comes at once; the binary one waits for this POST (wait_for in the fixture).
        let deadline = ContinuousClock.now + .seconds(5)
        while collected.messages.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(collected.messages.count == 1)
        _ = try await connection.postJSON("/prompt", json: ["client_id": "c1"], timeout: .seconds(5)).requireOK("/prompt")
        try await session
        #expect(collected.messages == [
            .text("{\"type\": \"status\", \"data\": {\"status\": {\"exec_info\": {\"queue_remaining\": 0}}}}"),
            .binary([0, 0, 0, 1, 0, 0, 0, 1, 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46]),
            .text("{\"type\": \"executing\", \"data\": {\"node\": null, \"prompt_id\": \"6f1c-recorded\"}}"),
        ])
        #expect(postedBeforeBinary.messages.count == 1)
        #expect(server.requests.first?.query == ["clientId": "c1"])
        #expect(server.problems.isEmpty)
    }

    @Test func returningFalseEndsTheSession() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        let collected = Collected()
        try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { message in
            collected.add(message)
            return collected.messages.count < 2
        }
        #expect(collected.messages == [.text("first"), .binary([1, 2, 3])])
        // The server holds the socket open: the session ends only because the client closed it.
        let start = ContinuousClock.now
        try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { _ in false }
        #expect(Self.seconds(since: start) < 2)
    }

    @Test func aDroppedWebSocketIsAConnectionLost() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.scriptWebSocket("/ws-hold", .dropAfter(1))
        let collected = Collected()
        let error = await Self.failure { () throws(RemoteError) in
            try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { message in
                collected.add(message)
                return true
            }
        }
        #expect(collected.messages == [.text("first")])
        #expect(error?.kind == .connectionLost("the WebSocket ended without a close frame: dropped, or a frame over 16 MiB or unreadable"))
        #expect(error?.description.hasSuffix("WebSocket /ws-hold: connection lost (the WebSocket ended without a close frame: "
                                             + "dropped, or a frame over 16 MiB or unreadable)") == true)
    }

    /// swift-websocket loses the end of the stream when it comes in the same read as the upgrade
    /// reply; the pings notice the dead connection instead (within two ping intervals).
    @Test func aDropRightAtTheUpgradeIsNoticedByThePings() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.scriptWebSocket("/ws-hold", .dropAtUpgrade)
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in
            try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { _ in true }
        }
        #expect(Self.seconds(since: start) < 2)
        guard case .connectionLost = error?.kind else { Issue.record("\(String(describing: error))"); return }
    }

    @Test(arguments: [
        (ReplayServer.WebSocketBehaviour.badOpcode, "malformed"),
        (.lyingLength, "connectionLost"),
        (.invalidUTF8, "malformed"),
        // swift-websocket closes the socket on these without saying why: see webSocket(_:...).
        (.hugeLength, "connectionLost"),
        (.bigFrame((1 << 20) + 1), "connectionLost"),
        (.fragmented((1 << 20) + 2), "tooLarge"),
    ])
    func brokenFramesAreErrorsNotCrashesOrHangs(_ behaviour: ReplayServer.WebSocketBehaviour, _ expected: String) async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server, maxMessageBytes: 1 << 20)
        defer { Task { await connection.shutdown() } }
        server.scriptWebSocket("/ws-hold", behaviour)
        let collected = Collected()
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in
            try await connection.webSocket("/ws-hold", connectTimeout: .seconds(5)) { message in
                collected.add(message)
                return true
            }
        }
        #expect(Self.seconds(since: start) < 5)
        #expect(collected.messages == [.text("first"), .binary([1, 2, 3]), .text("third")])
        let kind = switch error?.kind {
        case .malformed: "malformed"
        case .connectionLost: "connectionLost"
        case .tooLarge(let limit): limit == 1 << 20 ? "tooLarge" : "tooLarge(\(limit))"
        default: "\(String(describing: error))"
        }
        #expect(kind == expected, "\(String(describing: error))")
    }

    @Test func aRefusedUpgradeIsUnreachable() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/ws", .status(403, "{\"detail\": \"forbidden\"}"))
        let refused = await Self.failure { () throws(RemoteError) in try await connection.webSocket("/ws", connectTimeout: .seconds(5)) { _ in true } }
        guard case .unreachable = refused?.kind else { Issue.record("\(String(describing: refused))"); return }
        let unknown = await Self.failure { () throws(RemoteError) in try await connection.webSocket("/nothing", connectTimeout: .seconds(5)) { _ in true } }
        guard case .unreachable = unknown?.kind else { Issue.record("\(String(describing: unknown))"); return }

        let closed = RemoteConnection(address: try ServerAddress(parsing: "http://127.0.0.1:\(closedPort())"), serverName: "ComfyUI")
        let error = await Self.failure { () throws(RemoteError) in try await closed.webSocket("/ws", connectTimeout: .seconds(5)) { _ in true } }
        #expect(error?.kind == .unreachable("connection refused"))
        await closed.shutdown()
    }

    @Test func anUpgradeThatNeverComesTimesOut() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        server.script("GET", "/ws", .hang)
        let start = ContinuousClock.now
        let error = await Self.failure { () throws(RemoteError) in try await connection.webSocket("/ws", connectTimeout: .milliseconds(500)) { _ in true } }
        #expect(Self.seconds(since: start) < 2.5)
        #expect(error?.kind == .timedOut(waitingFor: "WebSocket connection", after: .milliseconds(500)))
    }

    @Test(arguments: ["/ws", "/ws-hold"])
    func cancellingTheTaskEndsAWebSocketAtOnce(_ path: String) async throws {
        let server = try Self.server()
        defer { server.stop() }
        let connection = try Self.connect(server)
        defer { Task { await connection.shutdown() } }
        if path == "/ws" { server.script("GET", "/ws", .hang) }  // waiting for the upgrade
        let error = try await Self.cancelledAfter300Milliseconds { () throws(RemoteError) in
            try await connection.webSocket(path, connectTimeout: .seconds(600)) { _ in true }
        }
        #expect(error?.description.hasSuffix("WebSocket \(path): cancelled") == true)
    }
}
