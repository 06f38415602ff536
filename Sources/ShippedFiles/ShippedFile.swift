import Foundation

/// The files stipple ships beside its binary: the themes, the bundled default model and the CLIP
/// merges. Found the same way for a binary in the source checkout (`.build/release/stipple`), one
/// installed with `scripts/install --prefix DIR` and one copied anywhere with its data. Lookup
/// order (README, "Install"; docs/DECISIONS.md, "Finding shipped files"):
///
/// 1. `$STIPPLE_DATA/<installed path>`, when STIPPLE_DATA is set;
/// 2. next to the binary: `<binary's folder>/<installed path>`;
/// 3. the prefix the binary is installed in: `<binary's folder>/../share/stipple/<installed path>`;
/// 4. the source checkout the binary was built in: `<folder>/<checkout path>` for the binary's
///    folder and the three above it (`.build/<triple>/release/` is three below the checkout).
///
/// The binary is the running executable (`/proc/self/exe`), so a `stipple` found through PATH
/// or a symbolic link is located by its real file. Nothing depends on where the sources were
/// compiled (no `#filePath`): a binary outside its checkout finds its files or says where it looked.
public struct ShippedFile: Sendable, Equatable {
    /// Where the file or folder is inside a data folder (`$STIPPLE_DATA`, `share/stipple`, next
    /// to the binary).
    public let installedPath: String
    /// Where it is in the source checkout.
    public let checkoutPath: String

    public init(installedPath: String, checkoutPath: String) {
        (self.installedPath, self.checkoutPath) = (installedPath, checkoutPath)
    }

    /// The studio's colour themes (`*.toml`).
    public static let themes = ShippedFile(installedPath: "themes", checkoutPath: "themes")
    /// The bundled default model, a diffusers folder.
    public static let bundledModel = ShippedFile(installedPath: "models/shapes-64", checkoutPath: "samples/shapes-64")
    /// CLIP's BPE merges, for models without a tokenizer folder. Installed inside the Diffusion
    /// module's SwiftPM resource bundle, which the build puts next to the binary.
    public static let clipMerges = ShippedFile(
        installedPath: "stipple_Diffusion.resources/bpe_simple_vocab_16e6.txt",
        checkoutPath: "Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt")

    /// The running executable's real path: `/proc/self/exe` resolved, else the first argument.
    public static let executable: URL = {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: target)
        }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
    }()

    /// The places looked in, in order (see the type's comment).
    public func candidates(environment: [String: String] = ProcessInfo.processInfo.environment,
                           executable: URL = ShippedFile.executable) -> [String] {
        var paths: [String] = []
        if let data = environment["STIPPLE_DATA"], !data.isEmpty {
            paths.append(URL(fileURLWithPath: data).appendingPathComponent(installedPath).path)
        }
        let folder = executable.deletingLastPathComponent()
        paths.append(folder.appendingPathComponent(installedPath).path)
        paths.append(folder.deletingLastPathComponent().appendingPathComponent("share/stipple")
            .appendingPathComponent(installedPath).path)
        var ancestor = folder
        for _ in 0..<4 {
            paths.append(ancestor.appendingPathComponent(checkoutPath).path)
            ancestor = ancestor.deletingLastPathComponent()
        }
        return paths
    }

    /// The first candidate that exists and passes `accept` (e.g. "has a model_index.json"), nil
    /// when none does.
    public func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                       executable: URL = ShippedFile.executable, accept: (String) -> Bool = { _ in true }) -> String? {
        candidates(environment: environment, executable: executable).first {
            FileManager.default.fileExists(atPath: $0) && accept($0)
        }
    }

    /// One line for an error: what was not found and where it was looked for.
    public func notFound(environment: [String: String] = ProcessInfo.processInfo.environment,
                         executable: URL = ShippedFile.executable) -> String {
        "\(installedPath) not found (looked in \(candidates(environment: environment, executable: executable).joined(separator: ", ")); "
            + "install with scripts/install or set STIPPLE_DATA)"
    }
}
