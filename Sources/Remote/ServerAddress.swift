import Terminal

/// Why a server address was refused; `description` is one line that says what to write instead.
public struct ServerAddressError: Error, CustomStringConvertible, Equatable {
    /// One line: the address (when it is safe to show) and what is wrong with it.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Where a ComfyUI or A1111 server listens: `http` or `https`, a host, an optional port and an
/// optional base path (a server behind a reverse proxy at `https://box/comfy`).
///
/// Parsed by hand rather than through `URL`/`URLComponents`, which accept far more than a server
/// address (user info, queries, fragments, spaces on some platforms) and differ between platforms;
/// whatever is refused here gets a one-line reason. Credentials in the address
/// (`http://user:secret@host`) are refused: they would end up in status lines, logs and error
/// messages. They belong in the `[backend]` config's `token_env`/`token_file` or
/// `user` + `password_env`/`password_file` (see `Credentials`).
public struct ServerAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case http, https
    }

    public let scheme: Scheme
    /// The host as written (lowercased), an IPv6 literal without its brackets.
    public let host: String
    /// The port as written, `nil` for the scheme's default.
    public let port: Int?
    /// "" or a path that starts with "/" and does not end with one ("/comfy").
    public let basePath: String

    /// The longest address accepted (a URL this long is a mistake, not a server).
    public static let maxLength = 2048

    /// Parses `text` (surrounding whitespace is ignored).
    public init(parsing text: String) throws(ServerAddressError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else { throw ServerAddressError("server address is empty") }
        guard trimmed.utf8.count <= Self.maxLength else {
            throw ServerAddressError("server address is longer than \(Self.maxLength) characters")
        }
        // Checked before anything is echoed: the part before "@" may be a password.
        let schemeEnd = trimmed.range(of: "://")
        let afterScheme = schemeEnd.map { trimmed[$0.upperBound...] } ?? trimmed[...]
        let authorityText = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authorityText.contains("@") {
            throw ServerAddressError(
                "server address has credentials in it (user:password@): give them with token_env/token_file "
                    + "or user + password_env/password_file instead")
        }
        let shown = "server address \"\(TerminalText.visible(String(trimmed)))\""
        if let bad = trimmed.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            let what = bad == " " ? "a space" : bad.value < 0x20 || bad.value == 0x7F ? "a control character" : "a non-ASCII character"
            throw ServerAddressError("\(shown) has \(what) in it (percent-encode it, or use the xn-- form of the host)")
        }
        guard let schemeEnd else {
            throw ServerAddressError("\(shown) has no scheme: write http://\(TerminalText.visible(String(trimmed))) or https://...")
        }
        guard let scheme = Scheme(rawValue: trimmed[..<schemeEnd.lowerBound].lowercased()) else {
            throw ServerAddressError("\(shown): the scheme must be http or https")
        }
        let rest = afterScheme.dropFirst(authorityText.count)
        if rest.contains("?") || rest.contains("#") {
            throw ServerAddressError("\(shown) has a query or fragment (?, #): give only scheme, host, port and path")
        }

        // Host and port: "host", "host:port", "[v6]", "[v6]:port".
        var hostPart = Substring(authorityText)
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else {
                throw ServerAddressError("\(shown): an IPv6 host needs its closing ]")
            }
            let after = hostPart[hostPart.index(after: close)...]
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ServerAddressError("\(shown): only :port may follow an IPv6 host") }
                portText = after.dropFirst()
            }
            guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw ServerAddressError("\(shown): \"[\(hostPart)]\" is not an IPv6 address")
            }
        } else if let colon = hostPart.firstIndex(of: ":") {
            portText = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
            if let extra = portText, extra.contains(":") {
                throw ServerAddressError("\(shown): an IPv6 host must be written in brackets, http://[::1]:8188")
            }
        }
        guard !hostPart.isEmpty else { throw ServerAddressError("\(shown) has no host") }
        guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" || $0 == ":" }) else {
            throw ServerAddressError("\(shown): \"\(hostPart)\" is not a host name")
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), portText.allSatisfy(\.isNumber), (1...65_535).contains(value) else {
                throw ServerAddressError("\(shown): the port must be a number from 1 to 65535")
            }
            port = value
        }

        // Base path: kept as written (already percent-encoded), without trailing slashes.
        var path = Substring(rest)
        while path.hasSuffix("/") { path = path.dropLast() }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/")
        guard path.allSatisfy({ allowed.contains($0) }) else {
            throw ServerAddressError("\(shown): the path has characters a URL path cannot hold")
        }
        self.scheme = scheme
        self.host = hostPart.lowercased()
        self.port = port
        self.basePath = String(path)
    }

    /// The port connected to: the one written, else 80 or 443.
    public var effectivePort: Int { port ?? (scheme == .https ? 443 : 80) }

    /// "host:port" (brackets around IPv6), for status lines: "ComfyUI at 127.0.0.1:8188".
    public var hostAndPort: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(shownHost):\($0)" } ?? shownHost
    }

    /// The address as a URL without a trailing slash ("http://gpu-box:8188/comfy"). It never holds
    /// a secret: credentials cannot be part of an address.
    public var description: String { "\(scheme.rawValue)://\(hostAndPort)\(basePath)" }

    /// The URL of `path` (which may carry a query) on this server: the base path joined with it.
    public func url(_ path: String) -> String {
        description + (path.hasPrefix("/") ? path : "/" + path)
    }

    /// The WebSocket URL of `path`: `ws://` for http, `wss://` for https.
    public func webSocketURL(_ path: String) -> String {
        let url = url(path)
        return (scheme == .https ? "wss" : "ws") + url.dropFirst(scheme.rawValue.count)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[first...last]
    }
}
