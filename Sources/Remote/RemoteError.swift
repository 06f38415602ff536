import Foundation
import Terminal

/// What went wrong talking to a remote server. `description` is one line naming the server, the
/// request and the cause, ready for the status line:
/// `ComfyUI at http://127.0.0.1:8188: POST /prompt: not reachable (connection refused)`.
///
/// Server text inside it (a status reply's message) is reduced to a short, printable excerpt, and
/// no credential is ever part of it: the address cannot hold one, and headers are never quoted.
public struct RemoteError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The cause, without the server and request.
    public enum Kind: Equatable, Sendable {
        /// No connection: "connection refused", "host not found", "TLS handshake failed (...)".
        case unreachable(String)
        /// Nothing (or not all) came within `after`: what was waited for ("a reply", "the connection").
        case timedOut(waitingFor: String, after: Duration)
        /// The server answered with a status other than 2xx; `excerpt` is a sanitized one-line
        /// excerpt of its body (its JSON `error`/`detail`/`message` when there is one).
        case status(Int, excerpt: String)
        /// The reply is not what the protocol expects: what was expected ("a JSON object").
        case malformed(String)
        /// The reply's body is larger than `limit` bytes (it was not read past the limit).
        case tooLarge(limit: Int)
        /// The connection broke during the reply or the WebSocket was dropped: how.
        case connectionLost(String)
        /// The calling task was cancelled.
        case cancelled
    }

    /// The server, as "ComfyUI at http://127.0.0.1:8188".
    public let server: String
    /// The request: "GET /history/abc", "WebSocket /ws" (control characters made visible).
    public let request: String
    public let kind: Kind

    public init(server: String, request: String, kind: Kind) {
        self.server = server
        self.request = request
        self.kind = kind
    }

    /// The most characters of a request shown (a long query stays readable).
    static let maxRequestLength = 160

    /// An error for `method` and `path` on `server`; the path is made safe to show.
    public init(server: String, method: String, path: String, kind: Kind) {
        var shown = TerminalText.visible(path)
        if shown.count > Self.maxRequestLength { shown = String(shown.prefix(Self.maxRequestLength)) + "..." }
        self.init(server: server, request: "\(method) \(shown)", kind: kind)
    }

    public var description: String { "\(server): \(request): \(cause)" }

    /// The cause alone, for a status line that already names the server.
    public var cause: String {
        switch kind {
        case .unreachable(let why): "not reachable (\(why))"
        case .timedOut(let what, let after): "no \(what) within \(Self.seconds(after))"
        case .status(let code, let excerpt):
            excerpt.isEmpty ? "HTTP \(code)\(Self.reasonPhrase(code))" : "HTTP \(code)\(Self.reasonPhrase(code)): \(excerpt)"
        case .malformed(let expected): "unexpected reply (expected \(expected))"
        case .tooLarge(let limit): "reply larger than \(Self.bytes(limit)), not read"
        case .connectionLost(let how): "connection lost (\(how))"
        case .cancelled: "cancelled"
        }
    }

    /// Whether retrying the same request later may help (the server was away or slow, or the
    /// connection broke); a status, a malformed reply or a cancellation will not change by retrying.
    public var isTransient: Bool {
        switch kind {
        case .unreachable, .timedOut, .connectionLost: true
        case .status(let code, _): code == 502 || code == 503 || code == 504
        case .malformed, .tooLarge, .cancelled: false
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (whole, attoseconds) = duration.components
        let milliseconds = whole * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
        return String(format: "%.1f s", Double(milliseconds) / 1000)
    }

    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20, count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        if count >= 1 << 10, count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
        return "\(count) bytes"
    }

    private static func reasonPhrase(_ code: Int) -> String {
        switch code {
        case 400: " Bad Request"
        case 401: " Unauthorized"
        case 403: " Forbidden"
        case 404: " Not Found"
        case 405: " Method Not Allowed"
        case 413: " Payload Too Large"
        case 422: " Unprocessable Entity"
        case 500: " Internal Server Error"
        case 502: " Bad Gateway"
        case 503: " Service Unavailable"
        case 504: " Gateway Timeout"
        default: ""
        }
    }
}

/// A short, printable, one-line excerpt of an error reply's body for a `RemoteError`.
enum ReplyExcerpt {
    /// The most characters kept.
    static let maxLength = 120
    /// The most bytes looked at (an error page can be large; the excerpt is short).
    static let maxInput = 64 << 10

    /// For a JSON object, its `error`, `detail` or `message` (nested one level: ComfyUI's
    /// `{"error": {"message": ...}}`, FastAPI's `{"detail": [{"msg": ...}]}`); for HTML, the text
    /// without tags; otherwise the text. Control, bidirectional and invisible characters dropped,
    /// whitespace runs collapsed, cut to 120 characters. Non-UTF-8 bodies give "N bytes of binary".
    static func make(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "" }
        let head = body.prefix(maxInput)
        if let object = try? JSONSerialization.jsonObject(with: Data(head), options: [.fragmentsAllowed]),
           let message = message(in: object, depth: 0) {
            return clean(message)
        }
        guard var text = String(validating: head, as: UTF8.self) ?? (head.count < body.count ? lossyPrefix(head) : nil) else {
            return "\(body.count) bytes of binary"
        }
        if text.first == "<" { text = withoutTags(text) }
        return clean(text)
    }

    private static func message(in object: Any, depth: Int) -> String? {
        guard depth < 4 else { return nil }
        if let string = object as? String { return string }
        if let array = object as? [Any], let first = array.first { return message(in: first, depth: depth + 1) }
        guard let dictionary = object as? [String: Any] else { return nil }
        for key in ["error", "detail", "message", "msg", "errors"] {
            if let value = dictionary[key], let found = message(in: value, depth: depth + 1) { return found }
        }
        return nil
    }

    /// A body cut at `maxInput` may end inside a UTF-8 sequence: decode all but the last 3 bytes.
    private static func lossyPrefix(_ bytes: ArraySlice<UInt8>) -> String? {
        for drop in 1...3 where bytes.count > drop {
            if let text = String(validating: bytes.dropLast(drop), as: UTF8.self) { return text }
        }
        return nil
    }

    private static func withoutTags(_ html: String) -> String {
        var result = ""
        var inTag = false
        for character in html {
            if character == "<" { inTag = true; result.append(" ") } else if character == ">" { inTag = false } else if !inTag {
                result.append(character)
            }
        }
        return result
    }

    static func clean(_ text: String) -> String {
        var result = ""
        var count = 0
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0x20 || value == 0x09 || value == 0x0A || value == 0x0D || value == 0x2028 || value == 0x2029 {
                pendingSpace = !result.isEmpty
                continue
            }
            // Controls, DEL and C1, bidirectional controls, zero-width characters, BOM: dropped.
            if value < 0x20 || (0x7F...0x9F).contains(value) || (0x200B...0x200F).contains(value)
                || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value) || value == 0xFEFF {
                continue
            }
            if pendingSpace {
                guard count + 1 < maxLength else { return result + "..." }
                result.unicodeScalars.append(" ")
                count += 1
                pendingSpace = false
            }
            guard count < maxLength else { return result + "..." }
            result.unicodeScalars.append(scalar)
            count += 1
        }
        return result
    }
}
