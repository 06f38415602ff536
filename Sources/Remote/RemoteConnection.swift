import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A reply to a request: its status, content type and the whole (bounded) body.
public struct HTTPReply: Sendable {
    public let status: Int
    /// The `Content-Type` header, as sent ("application/json; charset=utf-8").
    public let contentType: String?
    public let body: [UInt8]
    /// Who answered and to what, for the errors the accessors throw.
    let server: String
    let method: String

    public init(status: Int, contentType: String?, body: [UInt8], server: String, method: String) {
        (self.status, self.contentType, self.body, self.server, self.method) = (status, contentType, body, server, method)
    }

    /// Throws `.status` (with an excerpt of the body) unless the status is 2xx; returns the reply.
    @discardableResult
    public func requireOK(_ path: String) throws(RemoteError) -> HTTPReply {
        guard (200..<300).contains(status) else {
            throw RemoteError(server: server, method: method, path: path, kind: .status(status, excerpt: ReplyExcerpt.make(body)))
        }
        return self
    }

    /// The body as a JSON object (the status is not checked: call `requireOK` first). Anything
    /// else, including a JSON array, is `.malformed`.
    public func jsonObject(_ path: String) throws(RemoteError) -> [String: Any] {
        guard let object = try json(path, expected: "a JSON object") as? [String: Any] else {
            throw RemoteError(server: server, method: method, path: path, kind: .malformed("a JSON object"))
        }
        return object
    }

    /// The body as a JSON array (A1111's lists: samplers, models); anything else is `.malformed`.
    public func jsonArray(_ path: String) throws(RemoteError) -> [Any] {
        guard let array = try json(path, expected: "a JSON array") as? [Any] else {
            throw RemoteError(server: server, method: method, path: path, kind: .malformed("a JSON array"))
        }
        return array
    }

    /// The body as UTF-8 text, `nil` when it is not UTF-8.
    public var text: String? { String(validating: body, as: UTF8.self) }

    private func json(_ path: String, expected: String) throws(RemoteError) -> Any {
        // The body is already bounded by the connection's limit; Foundation's parser limits nesting.
        guard let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            throw RemoteError(server: server, method: method, path: path, kind: .malformed(expected))
        }
        return value
    }
}

/// One message from a WebSocket: a whole text or binary message (fragments joined).
public enum WebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
}

/// The transport to one ComfyUI or A1111 server: HTTP requests with a timeout each and bounded
/// bodies, and WebSocket sessions, all sending the credentials' `Authorization` header. Every
/// failure is a `RemoteError` whose one line names the server, the request and the cause.
///
/// HTTP goes through one AsyncHTTPClient `HTTPClient` per connection (keep-alive connections are
/// reused between requests); WebSockets through swift-websocket's `WebSocketClient`. HTTPS and WSS
/// use their default TLS configuration: certificates are checked against the system trust store
/// (Debian's ca-certificates) and the host name. A server with a self-signed certificate is
/// refused; put it behind a proxy with a trusted certificate or add its CA to the system store.
///
/// Redirects are not followed (a redirect to another host would carry the credentials there):
/// a 3xx is a `.status` error. Failed connections are not retried here; the protocol layers
/// retry what is safe to retry (`RemoteError.isTransient`). Nothing is logged.
///
/// Call `shutdown()` when done with it.
public final class RemoteConnection: Sendable {
    public let address: ServerAddress
    /// "ComfyUI", "A1111 API": how errors and status lines name the server.
    public let serverName: String
    /// Connecting (TCP and TLS) gives up after this long.
    public let connectTimeout: Duration
    /// The largest reply body read; a larger one is refused while it streams (`.tooLarge`).
    public let maxBodyBytes: Int
    /// The largest WebSocket message (and frame) accepted.
    public let maxMessageBytes: Int
    /// A WebSocket session pings the server this often and counts it as dropped when the pong has
    /// not come by the next ping. Without it a server that vanished from the network (no FIN, no
    /// RST) would leave a session waiting for ever, and so would a drop that swift-websocket misses:
    /// a FIN that arrives together with the upgrade reply is lost in the pipeline change (seen with
    /// the replay server), leaving only the next write to notice.
    public let webSocketPingInterval: Duration

    let credentials: Credentials
    private let client: HTTPClient
    private let isShutDown = Atomic<Bool>(false)

    public static let defaultMaxBodyBytes = 64 << 20
    public static let defaultMaxMessageBytes = 16 << 20

    public init(
        address: ServerAddress, credentials: Credentials = .none, serverName: String,
        connectTimeout: Duration = .seconds(5),
        maxBodyBytes: Int = RemoteConnection.defaultMaxBodyBytes,
        maxMessageBytes: Int = RemoteConnection.defaultMaxMessageBytes,
        webSocketPingInterval: Duration = .seconds(10)
    ) {
        self.address = address
        self.credentials = credentials
        self.serverName = serverName
        self.connectTimeout = connectTimeout
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.maxMessageBytes = max(125, maxMessageBytes)
        self.webSocketPingInterval = max(.milliseconds(100), webSocketPingInterval)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: Self.timeAmount(connectTimeout), read: nil),
            decompression: .disabled
        )
        // A refused connection fails now instead of being retried with backoff until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.idleTimeout = .seconds(30)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    deinit {
        // A connection dropped without shutdown() still releases its sockets (and does not trip
        // HTTPClient's check that it was shut down).
        if !isShutDown.exchange(true, ordering: .acquiringAndReleasing) {
            client.shutdown { _ in }
        }
    }

    /// "ComfyUI at http://127.0.0.1:8188": how errors name this server.
    public var label: String { "\(serverName) at \(address)" }

    /// Closes the connections; requests after it fail with `.cancelled`.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await client.shutdown()
    }

    // MARK: HTTP

    /// GETs `path` (percent-encoded, with its query if any: "/view?filename=a%20b.png"), joined to
    /// the address's base path. `timeout` covers the whole reply, head and body. Any status comes
    /// back as a reply (check it with `requireOK`); only transport failures throw.
    public func get(_ path: String, timeout: Duration) async throws(RemoteError) -> HTTPReply {
        try await send(.GET, path, body: nil, contentType: nil, timeout: timeout)
    }

    /// POSTs `body` as `contentType` to `path`, as `get` does. Never retried here: a POST that
    /// lost its reply may have been done (a queued prompt), which only the caller can check.
    public func post(_ path: String, body: [UInt8], contentType: String, timeout: Duration) async throws(RemoteError) -> HTTPReply {
        try await send(.POST, path, body: body, contentType: contentType, timeout: timeout)
    }

    /// POSTs `object` (dictionaries, arrays, strings, numbers, booleans, NSNull) as JSON.
    public func postJSON(_ path: String, json object: Any, timeout: Duration) async throws(RemoteError) -> HTTPReply {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else {
            throw RemoteError(server: label, method: "POST", path: path, kind: .malformed("a request body that JSON can hold"))
        }
        return try await post(path, body: [UInt8](data), contentType: "application/json", timeout: timeout)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, contentType: String?, timeout: Duration) async throws(RemoteError) -> HTTPReply {
        let label = label
        let failure: @Sendable (RemoteError.Kind) -> RemoteError = { kind in
            RemoteError(server: label, method: method.rawValue, path: path, kind: kind)
        }
        guard !isShutDown.load(ordering: .acquiring) else { throw failure(.cancelled) }
        var request = HTTPClientRequest(url: address.url(path))
        request.method = method
        request.headers.add(name: "User-Agent", value: "stipple")
        if let authorization = credentials.authorizationHeader {
            request.headers.add(name: "Authorization", value: authorization)
        }
        if let body, let contentType {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(body)
        }
        let progress = Progress()
        let prepared = request
        do {
            return try await Self.within(timeout) { [client, maxBodyBytes] in
                // AHC's own deadline is a backstop; the race above is what the caller sees.
                let response = try await client.execute(prepared, timeout: Self.timeAmount(timeout) + .seconds(1))
                progress.headReceived.store(true, ordering: .releasing)
                if let declared = response.headers.first(name: "Content-Length").flatMap(Int.init), declared > maxBodyBytes {
                    throw failure(.tooLarge(limit: maxBodyBytes))
                }
                var bytes: [UInt8] = []
                for try await chunk in response.body {
                    guard chunk.readableBytes <= maxBodyBytes - bytes.count else { throw failure(.tooLarge(limit: maxBodyBytes)) }
                    bytes.append(contentsOf: chunk.readableBytesView)
                }
                return HTTPReply(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
                                 body: bytes, server: label, method: method.rawValue)
            }
        } catch {
            let waitedFor = progress.headReceived.load(ordering: .acquiring) ? "complete reply" : "reply"
            throw failure(kind(of: error, timeout: timeout, waitingFor: waitedFor))
        }
    }

    /// Whether a reply's head has come, for the timeout message.
    private final class Progress: Sendable {
        let headReceived = Atomic<Bool>(false)
    }

    private struct Deadline: Error {}

    /// `operation`'s result, or `Deadline` once `timeout` has passed (the operation is cancelled).
    private static func within<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw Deadline() }
            return value
        }
    }

    // MARK: Errors

    /// The cause of a failed request or WebSocket, from whatever the libraries threw.
    func kind(of error: any Error, timeout: Duration, waitingFor: String) -> RemoteError.Kind {
        if let error = error as? RemoteError { return error.kind }
        if Task.isCancelled || error is CancellationError { return .cancelled }
        if error is Deadline { return .timedOut(waitingFor: waitingFor, after: timeout) }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled: return .cancelled
            case .connectTimeout: return .timedOut(waitingFor: "connection", after: connectTimeout)
            case .deadlineExceeded, .readTimeout: return .timedOut(waitingFor: waitingFor, after: timeout)
            case .tlsHandshakeTimeout: return .unreachable("TLS handshake timed out")
            case .remoteConnectionClosed: return .connectionLost("the server closed the connection")
            case .bodyLengthMismatch: return .connectionLost("the body ended before its length")
            case .alreadyShutdown: return .cancelled
            case .invalidURL, .emptyHost, .emptyScheme: return .unreachable("not a valid URL")
            default: return .malformed("an HTTP reply (\(Self.shortText(String(describing: error))))")
            }
        }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first?.error { return kind(of: first, timeout: timeout, waitingFor: waitingFor) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return .unreachable("host not found") }
            return .unreachable("no address to connect to")
        }
        if let error = error as? IOError { return ioKind(error.errnoCode) }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return .timedOut(waitingFor: "connection", after: connectTimeout)
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return .connectionLost("the server closed the connection")
            default: return .connectionLost(Self.shortText(String(describing: error)))
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            let text = String(describing: error)
            if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") {
                return .unreachable("TLS: the server's certificate is not trusted by the system trust store")
            }
            return .unreachable("TLS failure: \(Self.shortText(text))")
        }
        if let error = error as? HTTPParserError {
            return error == .invalidEOFState ? .connectionLost("the reply ended early") : .malformed("an HTTP reply")
        }
        return .connectionLost(Self.shortText(String(describing: error)))
    }

    private func ioKind(_ code: Int32) -> RemoteError.Kind {
        switch code {
        case ECONNREFUSED: .unreachable("connection refused")
        case EHOSTUNREACH: .unreachable("host unreachable")
        case ENETUNREACH: .unreachable("network unreachable")
        case ETIMEDOUT: .timedOut(waitingFor: "connection", after: connectTimeout)
        case ECONNRESET: .connectionLost("connection reset by the server")
        case EPIPE: .connectionLost("the server closed the connection")
        default: .connectionLost(String(cString: strerror(code)).lowercased())
        }
    }

    /// A library's error text, one line and short (it names types and codes, never headers).
    static func shortText(_ text: String) -> String {
        ReplyExcerpt.clean(text)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        guard duration > .zero else { return .zero }
        let (seconds, attoseconds) = duration.components
        let clamped = min(max(seconds, 0), 86_400 * 365)
        return .nanoseconds(clamped * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
