import Foundation

/// A recorded exchange file: what a real server answered, request by request, and the frames it
/// sent on its WebSocket. JSON:
/// `{"server": "ComfyUI 0.8.0", "recorded_by": "COMMAND", "exchanges": [EXCHANGE...]}`, where an
/// exchange is `{"method", "path" (no query), "query": {NAME: VALUE} (optional, items that must
/// match), "request_json" (optional, informational), "status" (default 200), "content_type",
/// one of "body_json" / "body_text" / "body_base64", "repeat": true (optional)}`, or for a
/// WebSocket `{"method": "GET", "path", "websocket": [FRAME...], "then": "hold" | "close" | "drop"}`
/// with frames `{"text": ...}` or `{"binary_base64": ...}`, optional `"wait_for": "POST /prompt"`
/// (sent once that request has been answered) and `"delay_ms"`. A request gets the first exchange
/// not yet used with its method, path and query items; `repeat` ones stay available. After its
/// last frame a WebSocket is held open until the client closes it (`hold`, the default, as a real
/// server does), closed with a close frame (`close`) or dropped (`drop`).
struct ReplayFixture: Sendable {
    struct Frame: Sendable {
        enum Payload: Sendable, Equatable {
            case text(String)
            case binary([UInt8])
        }

        var payload: Payload
        /// "POST /prompt": sent only once a request with that method and path has been answered.
        var waitFor: String?
        var delayMilliseconds: Int = 0
    }

    /// What the server does after a WebSocket exchange's last frame.
    enum WebSocketEnd: String, Sendable {
        /// Keeps the WebSocket open until the client closes it (what a real server does).
        case hold
        /// Sends a close frame (1000) and waits for the client's.
        case close
        /// Closes the socket without a close frame.
        case drop
    }

    struct Exchange: Sendable {
        var method: String
        var path: String
        var query: [String: String] = [:]
        var status = 200
        var contentType: String?
        var body: [UInt8] = []
        var repeats = false
        /// Set for a WebSocket exchange: the server's frames, in order.
        var frames: [Frame]?
        var end: WebSocketEnd = .hold
    }

    var server = "(none)"
    var exchanges: [Exchange] = []

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    init(server: String = "(none)", exchanges: [Exchange] = []) {
        self.server = server
        self.exchanges = exchanges
    }

    /// Reads a fixture under Tests/RemoteTests/Fixtures ("transport/basic.json").
    static func load(_ relativePath: String) throws -> ReplayFixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
        return try ReplayFixture(json: Data(contentsOf: url), name: relativePath)
    }

    init(json data: Data, name: String = "fixture") throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = root["exchanges"] as? [[String: Any]] else {
            throw Problem(description: "\(name): not an object with an \"exchanges\" array")
        }
        server = root["server"] as? String ?? "(unknown)"
        for (index, item) in list.enumerated() {
            let at = "\(name): exchange \(index)"
            guard let method = item["method"] as? String, let path = item["path"] as? String else {
                throw Problem(description: "\(at): needs method and path")
            }
            var exchange = Exchange(method: method.uppercased(), path: path)
            if let query = item["query"] as? [String: Any] {
                exchange.query = query.mapValues { "\($0)" }
            }
            exchange.status = item["status"] as? Int ?? 200
            exchange.contentType = item["content_type"] as? String
            exchange.repeats = item["repeat"] as? Bool ?? false
            if let json = item["body_json"] {
                exchange.body = [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]))
                if exchange.contentType == nil { exchange.contentType = "application/json" }
            } else if let text = item["body_text"] as? String {
                exchange.body = Array(text.utf8)
            } else if let base64 = item["body_base64"] as? String {
                guard let data = Data(base64Encoded: base64) else { throw Problem(description: "\(at): body_base64 is not base64") }
                exchange.body = [UInt8](data)
            }
            if let frames = item["websocket"] as? [[String: Any]] {
                exchange.frames = try frames.enumerated().map { frameIndex, frame in
                    let payload: Frame.Payload
                    if let text = frame["text"] as? String {
                        payload = .text(text)
                    } else if let base64 = frame["binary_base64"] as? String, let data = Data(base64Encoded: base64) {
                        payload = .binary([UInt8](data))
                    } else {
                        throw Problem(description: "\(at), frame \(frameIndex): needs text or binary_base64")
                    }
                    return Frame(payload: payload, waitFor: frame["wait_for"] as? String,
                                 delayMilliseconds: frame["delay_ms"] as? Int ?? 0)
                }
                if let end = item["then"] as? String {
                    guard let value = WebSocketEnd(rawValue: end) else { throw Problem(description: "\(at): then must be hold, close or drop") }
                    exchange.end = value
                }
            }
            exchanges.append(exchange)
        }
    }
}
