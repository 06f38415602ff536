import Foundation

/// Where generations run, as config.toml's `[backend]` table and the `--backend` options say:
/// the embedded engine (the default), or a ComfyUI or A1111-compatible server at `url`.
/// Secrets are never settings: `token_env` / `password_env` name environment variables and
/// `token_file` / `password_file` files that hold them, so config files and shell histories
/// can be shown to others; nothing here is written into images or logs.
public struct BackendSettings: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        case embedded
        case comfyui
        /// AUTOMATIC1111's API, which Forge, SD.Next and stable-diffusion.cpp's `sd-server` speak.
        case a1111
    }

    public var kind: Kind = .embedded
    /// The server: `http://gpu-box:8188`, `https://host/comfy`.
    public var url: String?
    /// The server's checkpoint to use (its own name for it); nil: the server's first (ComfyUI) or
    /// current (A1111) one.
    public var checkpoint: String?
    /// A bearer token: the environment variable holding it, or a file whose first line it is.
    public var tokenEnv: String?
    public var tokenFile: String?
    /// Basic auth (A1111's `--api-auth user:password`): the user, and where the password is.
    public var user: String?
    public var passwordEnv: String?
    public var passwordFile: String?
    /// A ComfyUI workflow saved in API format, run with the prompt, negative prompt and seed
    /// put in, instead of the graph stipple builds.
    public var workflow: String?

    public init(kind: Kind = .embedded, url: String? = nil) {
        (self.kind, self.url) = (kind, url)
    }

    /// The `[backend]` keys, in the order the warnings list them.
    public static let knownKeys = ["checkpoint", "kind", "password_env", "password_file", "token_env", "token_file", "url", "user",
                                   "workflow"]

    /// Sets the setting `key` (a `[backend]` key) to `value`; why not, when the value is wrong.
    mutating func set(_ key: String, _ value: String) -> String? {
        switch key {
        case "kind":
            guard let parsed = Kind(rawValue: value.lowercased()) else { return Self.unknownKind(value) }
            kind = parsed
        case "url": url = value
        case "checkpoint": checkpoint = value
        case "token_env": tokenEnv = value
        case "token_file": tokenFile = value
        case "user": user = value
        case "password_env": passwordEnv = value
        case "password_file": passwordFile = value
        case "workflow": workflow = value
        default: return "not a backend setting"
        }
        return nil
    }

    static func unknownKind(_ value: String) -> String {
        "kind must be \(Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), not \"\(value)\""
    }

    /// Whether generations go to a server.
    public var isRemote: Bool { kind != .embedded }
}
