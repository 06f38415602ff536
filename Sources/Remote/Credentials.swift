import Foundation
import Terminal
import UserFiles

/// Why credentials could not be loaded; `description` is one line and never holds a secret.
public struct CredentialsError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// How stipple authenticates to a remote server: nothing, HTTP basic auth, or a bearer token (a
/// reverse proxy in front of ComfyUI, A1111's `--api-auth`). Sent as the `Authorization` header on
/// every request and on the WebSocket upgrade.
///
/// The secret never shows: `description`, `debugDescription` and the mirror (`dump`) name only the
/// kind and the user, so a credential that reaches a log line, an error or a status line by mistake
/// is still not there.
public enum Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    case none
    case basic(user: String, password: String)
    case bearer(String)

    /// The environment variable read for a bearer token when the config names no credentials.
    public static let defaultTokenVariable = "STIPPLE_BACKEND_TOKEN"
    /// The largest secret file read (a token is a line, not a document).
    public static let maxFileBytes = 4096

    /// The `Authorization` header value, `nil` for `.none`.
    public var authorizationHeader: String? {
        switch self {
        case .none: nil
        case .basic(let user, let password): "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .bearer(let token): "Bearer " + token
        }
    }

    public var description: String {
        switch self {
        case .none: "no credentials"
        case .basic(let user, _): "user \"\(user)\" with a password"
        case .bearer: "a bearer token"
        }
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }

    /// The credentials the `[backend]` config (or the command line) names:
    /// - `token_env` (a variable's name) or `token_file` (a path): a bearer token;
    /// - `user` with `password_env` or `password_file`: basic auth;
    /// - none of them: a bearer token from `STIPPLE_BACKEND_TOKEN` when it is set, else none.
    /// Secrets come from the environment or a file, never from the config itself, so a config file
    /// can be shared. A file must be a regular file of at most 4 KB; its first line, trimmed, is
    /// the secret. A file that others can read is loaded with a warning (ssh refuses such keys, but
    /// Docker and Kubernetes mount secrets 0444, so a refusal would break the usual setups).
    public static func load(
        tokenEnv: String? = nil, tokenFile: String? = nil, user: String? = nil,
        passwordEnv: String? = nil, passwordFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        warnings: inout [String]
    ) throws(CredentialsError) -> Credentials {
        let tokenGiven = tokenEnv != nil || tokenFile != nil
        let passwordGiven = passwordEnv != nil || passwordFile != nil
        if tokenEnv != nil && tokenFile != nil {
            throw CredentialsError("give token_env or token_file, not both")
        }
        if passwordEnv != nil && passwordFile != nil {
            throw CredentialsError("give password_env or password_file, not both")
        }
        if tokenGiven && (user != nil || passwordGiven) {
            throw CredentialsError("give a token (token_env/token_file) or user + password_env/password_file, not both")
        }
        if let user {
            guard !user.isEmpty else { throw CredentialsError("user is empty") }
            guard !user.contains(":"), !user.unicodeScalars.contains(where: isControl) else {
                throw CredentialsError("user must not contain \":\" or control characters")
            }
            guard passwordGiven else {
                throw CredentialsError("user \"\(user)\" needs password_env or password_file (a password in the config is not read)")
            }
            if let passwordEnv {
                return .basic(user: user, password: try variable(passwordEnv, key: "password_env", in: environment))
            }
            return .basic(user: user, password: try fileSecret(passwordFile ?? "", key: "password_file", warnings: &warnings))
        }
        if passwordGiven {
            throw CredentialsError("password_env/password_file needs user")
        }
        if let tokenEnv {
            return .bearer(try variable(tokenEnv, key: "token_env", in: environment))
        }
        if let tokenFile {
            return .bearer(try fileSecret(tokenFile, key: "token_file", warnings: &warnings))
        }
        if let token = environment[defaultTokenVariable], !token.isEmpty {
            return .bearer(try checked(token, source: defaultTokenVariable))
        }
        return .none
    }

    private static func variable(_ name: String, key: String, in environment: [String: String]) throws(CredentialsError) -> String {
        guard !name.isEmpty else { throw CredentialsError("\(key) is empty (it names an environment variable)") }
        guard let value = environment[name], !value.isEmpty else {
            throw CredentialsError("\(key) names $\(TerminalText.visible(name)), which is not set or empty")
        }
        return try checked(value, source: "$\(TerminalText.visible(name))")
    }

    private static func fileSecret(_ path: String, key: String, warnings: inout [String]) throws(CredentialsError) -> String {
        let shown = TerminalText.visible(path)
        let fd: Int32
        do {
            fd = try UserFile.open(path)
        } catch {
            throw CredentialsError("\(key): \(TerminalText.visible(error.description))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CredentialsError("\(key): \(shown): cannot be read") }
        guard status.st_size <= maxFileBytes else {
            throw CredentialsError("\(key): \(shown) is larger than \(maxFileBytes) bytes (it should hold one line)")
        }
        if status.st_mode & 0o077 != 0 {
            let mode = String(status.st_mode & 0o777, radix: 8)
            warnings.append("\(key): \(shown) can be read by other users (mode \(mode)); chmod 600 it")
        }
        var bytes = [UInt8](repeating: 0, count: maxFileBytes + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress.map { $0 + count }, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw CredentialsError("\(key): \(shown): cannot be read") }
            if n == 0 { break }
            count += n
        }
        guard count <= maxFileBytes else {
            throw CredentialsError("\(key): \(shown) is larger than \(maxFileBytes) bytes (it should hold one line)")
        }
        guard let text = String(validating: bytes[..<count], as: UTF8.self) else {
            throw CredentialsError("\(key): \(shown) is not UTF-8 text")
        }
        let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let secret = String(String(firstLine).trimmingASCIIWhitespace())
        guard !secret.isEmpty else { throw CredentialsError("\(key): \(shown) is empty (its first line is the secret)") }
        return try checked(secret, source: shown)
    }

    /// A secret goes into an HTTP header: control characters (a CR LF would start a new header) are
    /// refused, and so is anything absurdly long.
    private static func checked(_ secret: String, source: String) throws(CredentialsError) -> String {
        guard secret.utf8.count <= maxFileBytes else {
            throw CredentialsError("the secret from \(source) is longer than \(maxFileBytes) bytes")
        }
        guard !secret.unicodeScalars.contains(where: isControl) else {
            throw CredentialsError("the secret from \(source) has control characters in it")
        }
        return secret
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
