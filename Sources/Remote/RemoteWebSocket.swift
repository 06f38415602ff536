import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization
import WSClient

extension RemoteConnection {
    /// Opens a WebSocket to `path` (`ws://` for an http address, `wss://` for https, with the
    /// `Authorization` header on the upgrade request) and hands each message to `onMessage` in
    /// order, until:
    /// - the server closes it cleanly (close code 1000 or 1001): returns;
    /// - `onMessage` returns false: closes it cleanly and returns;
    /// - the connection drops, or the server closes with an error code: `.connectionLost`; a
    ///   server that stops answering pings counts as dropped (see `webSocketPingInterval`);
    /// - no connection or no upgrade within `connectTimeout`: `.timedOut`; refused (connection or
    ///   upgrade): `.unreachable`;
    /// - the server sends a message larger than `maxMessageBytes` in fragments: `.tooLarge`; a
    ///   single frame over it, or one whose header is broken, is refused by swift-websocket, which
    ///   then closes the socket without saying why: `.connectionLost`, naming both causes; a frame
    ///   with a reserved opcode or a text message that is not UTF-8: `.malformed`;
    /// - the calling task is cancelled: `.cancelled`, promptly, whatever the server does.
    ///
    /// Each session runs on its own event loop, which is shut down when it ends. Before the upgrade
    /// is complete, a timeout or a cancellation shuts it down at once: that closes the socket even
    /// when a server accepts the TCP connection and never answers the upgrade (swift-websocket has
    /// no upgrade timeout of its own and does not answer cancellation until connected). After it,
    /// cancellation goes through swift-websocket (nothing may await a future of a loop that is
    /// already shut down).
    public func webSocket(
        _ path: String, connectTimeout: Duration,
        onMessage: @escaping @Sendable (WebSocketMessage) async -> Bool
    ) async throws(RemoteError) {
        let failure = { (kind: RemoteError.Kind) in RemoteError(server: self.label, method: "WebSocket", path: path, kind: kind) }
        var headers = HTTPFields()
        headers[.userAgent] = "stipple"
        if let authorization = credentials.authorizationHeader {
            headers[.authorization] = authorization
        }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: maxMessageBytes, additionalHeaders: headers, closeTimeout: .seconds(2),
            autoPing: .enabled(timePeriod: webSocketPingInterval), validateUTF8: true)
        let session = WebSocketSession()
        let url = address.webSocketURL(path)
        let maxMessageBytes = maxMessageBytes

        let ended: Result<WebSocketCloseFrame?, any Error> = await withTaskCancellationHandler {
            await withTaskGroup(of: SessionEvent.self) { group in
                group.addTask {
                    do {
                        let frame = try await WebSocketClient.connect(
                            url: url, configuration: configuration, eventLoopGroup: session.loops,
                            logger: Self.silentLogger
                        ) { inbound, _, _ in
                            session.connected.store(true, ordering: .releasing)
                            var messages = inbound.messages(maxSize: maxMessageBytes).makeAsyncIterator()
                            do {
                                while let message = try await messages.next() {
                                    let delivered: WebSocketMessage = switch message {
                                    case .text(let text): .text(text)
                                    case .binary(let buffer): .binary(Array(buffer.readableBytesView))
                                    }
                                    guard await onMessage(delivered) else {
                                        session.endedByClient.store(true, ordering: .releasing)
                                        return
                                    }
                                }
                            } catch {
                                // swift-websocket may end the session without rethrowing this (when
                                // the channel is already closed it returns as from a clean end).
                                session.readError.withLock { $0 = error }
                                throw error
                            }
                        }
                        return .ended(.success(frame))
                    } catch {
                        return .ended(.failure(error))
                    }
                }
                group.addTask {
                    do { try await Task.sleep(for: connectTimeout) } catch { return .timerCancelled }
                    return .connectDeadline
                }
                var result: Result<WebSocketCloseFrame?, any Error> = .success(nil)
                for await event in group {
                    switch event {
                    case .ended(let outcome):
                        result = outcome
                        group.cancelAll()
                    case .connectDeadline:
                        if !session.connected.load(ordering: .acquiring) {
                            session.timedOut.store(true, ordering: .releasing)
                            session.stop()
                        }
                    case .timerCancelled:
                        break
                    }
                }
                return result
            }
        } onCancel: {
            // Once connected, swift-websocket answers cancellation itself (it closes the input and
            // the close handshake runs, bounded by its close timeout); before, only closing the
            // event loop ends the wait for the upgrade.
            if !session.connected.load(ordering: .acquiring) { session.stop() }
        }
        await session.finish()

        let connected = session.connected.load(ordering: .acquiring)
        if Task.isCancelled { throw failure(.cancelled) }
        if session.timedOut.load(ordering: .acquiring) {
            throw failure(.timedOut(waitingFor: "WebSocket connection", after: connectTimeout))
        }
        switch ended {
        case .success(let closeFrame):
            if session.endedByClient.load(ordering: .acquiring) { return }
            if let error = session.readError.withLock({ $0 }) {
                throw failure(webSocketKind(of: error, connected: true, connectTimeout: connectTimeout))
            }
            guard let closeFrame else {
                // swift-websocket ends the same way when it refuses a frame (over the size limit,
                // or unreadable): it closes the socket without reporting why.
                throw failure(.connectionLost(
                    "the WebSocket ended without a close frame: dropped, or a frame over \(RemoteError.bytes(maxMessageBytes)) or unreadable"))
            }
            switch closeFrame.closeCode {
            case .normalClosure, .goingAway:
                return
            case .protocolError, .unacceptableData, .dataInconsistentWithMessage:
                throw failure(.malformed("valid WebSocket frames (closed with \(Self.closeText(closeFrame)))"))
            case .messageTooLarge:
                throw failure(.tooLarge(limit: maxMessageBytes))
            default:
                throw failure(.connectionLost("the server closed the WebSocket with \(Self.closeText(closeFrame))"))
            }
        case .failure(let error):
            throw failure(webSocketKind(of: error, connected: connected, connectTimeout: connectTimeout))
        }
    }

    private func webSocketKind(of error: any Error, connected: Bool, connectTimeout: Duration) -> RemoteError.Kind {
        if let error = error as? WebSocketClientError {
            switch error {
            case .serverSentMessageTooLarge: return .tooLarge(limit: maxMessageBytes)
            case .serverSentDataInconsistentWithMessage: return .malformed("UTF-8 text in a text message")
            case .serverProtocolError: return .malformed("valid WebSocket frames")
            case .webSocketUpgradeFailed: return .unreachable("the WebSocket upgrade was refused")
            case .invalidURL: return .unreachable("not a valid URL")
            default: return .unreachable(Self.shortText(String(describing: error)))
            }
        }
        if let error = error as? NIOWebSocketError {
            switch error {
            case .invalidFrameLength: return .tooLarge(limit: maxMessageBytes)
            default: return .malformed("valid WebSocket frames")
            }
        }
        let kind = kind(of: error, timeout: connectTimeout, waitingFor: "WebSocket connection")
        guard connected else {
            if case .connectionLost = kind { return .unreachable("the WebSocket upgrade failed (the server closed the connection)") }
            if case .malformed = kind { return .unreachable("the WebSocket upgrade failed (not an HTTP reply)") }
            return kind
        }
        if case .unreachable(let why) = kind { return .connectionLost(why) }
        if case .malformed = kind { return .malformed("valid WebSocket frames") }
        return kind
    }

    private static func closeText(_ frame: WebSocketCloseFrame) -> String {
        let code: String = switch frame.closeCode {
        case .protocolError: "1002 (protocol error)"
        case .unacceptableData: "1003 (unacceptable data)"
        case .dataInconsistentWithMessage: "1007 (invalid data)"
        case .policyViolation: "1008 (policy violation)"
        case .messageTooLarge: "1009 (message too large)"
        case .missingExtension: "1010 (missing extension)"
        case .unexpectedServerError: "1011 (server error)"
        case .unknown(let value): "\(value)"
        default: "\(frame.closeCode)"
        }
        let reason = ReplyExcerpt.clean(frame.reason ?? "")
        return reason.isEmpty ? "code \(code)" : "code \(code): \(reason)"
    }

    static let silentLogger = Logger(label: "stipple.remote", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// What a WebSocket session's tasks report.
private enum SessionEvent: Sendable {
    case ended(Result<WebSocketCloseFrame?, any Error>)
    case connectDeadline
    case timerCancelled
}

/// The state one WebSocket session's tasks share, and its own event loop.
private final class WebSocketSession: Sendable {
    let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let connected = Atomic<Bool>(false)
    let endedByClient = Atomic<Bool>(false)
    let timedOut = Atomic<Bool>(false)
    /// What reading the messages threw, if anything.
    let readError = Mutex<(any Error)?>(nil)
    private let stopped = Atomic<Bool>(false)

    /// Closes every socket of the session now (from any thread, any number of times).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loops.shutdownGracefully { _ in }
    }

    /// Stops the event loop if nothing did, and waits until it has.
    func finish() async {
        if !stopped.exchange(true, ordering: .acquiringAndReleasing) {
            try? await loops.shutdownGracefully()
        }
    }
}
