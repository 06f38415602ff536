import Foundation
import Testing
@testable import Remote

@Suite struct CredentialsTests {
    /// A private temporary folder, removed afterwards.
    static func withFolder(_ body: (String) throws -> Void) throws {
        let folder = NSTemporaryDirectory() + "stipple-credentials-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try body(folder)
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    static func load(
        tokenEnv: String? = nil, tokenFile: String? = nil, user: String? = nil, passwordEnv: String? = nil,
        passwordFile: String? = nil, environment: [String: String] = [:]
    ) -> (Result<Credentials, CredentialsError>, [String]) {
        var warnings: [String] = []
        let result = Result { () throws(CredentialsError) in
            try Credentials.load(tokenEnv: tokenEnv, tokenFile: tokenFile, user: user, passwordEnv: passwordEnv,
                                 passwordFile: passwordFile, environment: environment, warnings: &warnings)
        }
        return (result, warnings)
    }

    @Test func headersAreTheStandardOnes() {
        #expect(Credentials.none.authorizationHeader == nil)
        #expect(Credentials.bearer("abc").authorizationHeader == "Bearer abc")
        // RFC 7617's example.
        #expect(Credentials.basic(user: "Aladdin", password: "open sesame").authorizationHeader == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    }

    @Test func descriptionsNeverShowTheSecret() {
        for credentials in [Credentials.bearer("hunter2"), .basic(user: "alice", password: "hunter2")] {
            var dumped = ""
            dump(credentials, to: &dumped)
            for text in ["\(credentials)", String(reflecting: credentials), dumped, "\([credentials])"] {
                #expect(!text.contains("hunter2"), "\(text)")
            }
        }
        #expect("\(Credentials.basic(user: "alice", password: "x"))" == "user \"alice\" with a password")
    }

    @Test func environmentAndDefaultVariable() {
        #expect(Self.load().0 == .success(.none))
        #expect(Self.load(environment: ["STIPPLE_BACKEND_TOKEN": "t0k"]).0 == .success(.bearer("t0k")))
        #expect(Self.load(environment: ["STIPPLE_BACKEND_TOKEN": ""]).0 == .success(.none))
        #expect(Self.load(tokenEnv: "MY_TOKEN", environment: ["MY_TOKEN": "abc", "STIPPLE_BACKEND_TOKEN": "other"]).0 == .success(.bearer("abc")))
        #expect(Self.load(user: "alice", passwordEnv: "PW", environment: ["PW": "pa55", "STIPPLE_BACKEND_TOKEN": "other"]).0
                    == .success(.basic(user: "alice", password: "pa55")))
    }

    @Test func mistakesAreOneLineErrors() {
        let cases: [((Result<Credentials, CredentialsError>, [String]), String)] = [
            (Self.load(tokenEnv: "MISSING"), "token_env names $MISSING, which is not set or empty"),
            (Self.load(tokenEnv: "A", tokenFile: "/x"), "not both"),
            (Self.load(tokenEnv: "A", user: "bob", passwordEnv: "B"), "not both"),
            (Self.load(user: "bob"), "needs password_env or password_file"),
            (Self.load(passwordEnv: "PW", environment: ["PW": "x"]), "needs user"),
            (Self.load(user: "bo:b", passwordEnv: "PW", environment: ["PW": "x"]), "\":\""),
            (Self.load(tokenEnv: "T", environment: ["T": "abc\r\nX-Injected: 1"]), "control characters"),
            (Self.load(tokenEnv: "T", environment: ["T": String(repeating: "a", count: 5000)]), "longer than 4096"),
        ]
        for (outcome, expected) in cases {
            guard case .failure(let error) = outcome.0 else { Issue.record("accepted, expected \(expected)"); continue }
            #expect(error.description.contains(expected), "\(error)")
            #expect(!error.description.contains("\n") && !error.description.contains("X-Injected"))
        }
    }

    @Test func tokenFiles() throws {
        try Self.withFolder { folder in
            let good = folder + "/token"
            try Self.write("  t0ken-from-file \nsecond line ignored\n", to: good, mode: 0o600)
            let (result, warnings) = Self.load(tokenFile: good)
            #expect(result == .success(.bearer("t0ken-from-file")) && warnings.isEmpty)

            let open = folder + "/open"
            try Self.write("abc\n", to: open, mode: 0o644)
            let (openResult, openWarnings) = Self.load(user: "alice", passwordFile: open)
            #expect(openResult == .success(.basic(user: "alice", password: "abc")))
            #expect(openWarnings == ["password_file: \(open) can be read by other users (mode 644); chmod 600 it"])

            let failures: [(String, String)] = [
                (folder + "/empty", ""), (folder + "/blank", "\n  \nsecret on line 2"), (folder + "/big", String(repeating: "x", count: 5000)),
                (folder + "/binary", "\u{FF}"),
            ]
            for (path, content) in failures {
                if path.hasSuffix("binary") {
                    try Data([0xFF, 0xFE, 0x41]).write(to: URL(fileURLWithPath: path))
                } else {
                    try Self.write(content, to: path, mode: 0o600)
                }
            }
            let expectations = [
                (folder + "/empty", "is empty"), (folder + "/blank", "is empty"), (folder + "/big", "larger than 4096 bytes"),
                (folder + "/binary", "not UTF-8"), (folder + "/missing", "no such file"), (folder, "not a regular file (a folder)"),
            ]
            for (path, expected) in expectations {
                guard case .failure(let error) = Self.load(tokenFile: path).0 else { Issue.record("\(path) accepted"); continue }
                #expect(error.description.hasPrefix("token_file: ") && error.description.contains(expected), "\(error)")
            }
            // A FIFO is refused without blocking on it.
            let fifo = folder + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            guard case .failure(let error) = Self.load(tokenFile: fifo).0 else { Issue.record("FIFO accepted"); return }
            #expect(error.description.contains("a FIFO"))
        }
    }
}

@Suite struct RemoteErrorTests {
    @Test func descriptionsNameServerRequestAndCause() {
        let server = "ComfyUI at http://127.0.0.1:8188"
        let cases: [(RemoteError.Kind, String)] = [
            (.unreachable("connection refused"), "not reachable (connection refused)"),
            (.timedOut(waitingFor: "reply", after: .seconds(30)), "no reply within 30 s"),
            (.timedOut(waitingFor: "connection", after: .milliseconds(2500)), "no connection within 2.5 s"),
            (.status(500, excerpt: "boom"), "HTTP 500 Internal Server Error: boom"),
            (.status(418, excerpt: ""), "HTTP 418"),
            (.malformed("a JSON object"), "unexpected reply (expected a JSON object)"),
            (.tooLarge(limit: 64 << 20), "reply larger than 64 MiB, not read"),
            (.connectionLost("the server dropped the WebSocket"), "connection lost (the server dropped the WebSocket)"),
            (.cancelled, "cancelled"),
        ]
        for (kind, cause) in cases {
            let error = RemoteError(server: server, method: "GET", path: "/history/abc", kind: kind)
            #expect(error.description == "\(server): GET /history/abc: \(cause)")
        }
    }

    @Test func pathsAreMadeSafeAndShort() {
        let error = RemoteError(server: "A1111 API at http://box", method: "GET", path: "/view?x=\u{1B}]52;c;AAAA\u{07}" + String(repeating: "a", count: 500), kind: .cancelled)
        #expect(!error.description.contains("\u{1B}") && !error.description.contains("\u{07}"))
        #expect(error.request.count <= 4 + RemoteError.maxRequestLength + 3)
    }

    @Test func excerptsKeepOnlyPrintableText() {
        #expect(ReplyExcerpt.clean("a\u{1B}[2Jb\u{9B}c\u{202E}d\u{200B}e\n\n\tf") == "a[2Jbcde f")
        #expect(ReplyExcerpt.make(Array("{\"message\": \"Model not found: x.safetensors\"}".utf8)) == "Model not found: x.safetensors")
        #expect(ReplyExcerpt.make(Array("\"just a string\"".utf8)) == "just a string")
        #expect(ReplyExcerpt.make(Array("{\"unrelated\": 1}".utf8)) == "{\"unrelated\": 1}")
        // Deep nesting is neither followed nor a crash.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(ReplyExcerpt.make(Array(deep.utf8)).count <= ReplyExcerpt.maxLength + 3)
        // A body cut inside a UTF-8 sequence at the input bound still gives text.
        let text = String(repeating: "é", count: ReplyExcerpt.maxInput)
        #expect(ReplyExcerpt.make(Array(text.utf8)).hasPrefix("ééé"))
    }
}
