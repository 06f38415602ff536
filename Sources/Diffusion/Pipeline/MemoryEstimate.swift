import Foundation

/// The memory a generation needs beyond the loaded weights, estimated before any work so a size
/// the machine cannot hold is refused with the figure instead of growing until an allocation
/// aborts the process (`-W 8192 -H 8192` on the bundled model needed tens of GB).
///
/// The peak is the VAE at full resolution: a decode (or an img2img encode) keeps about six
/// tensors of `fullResolutionChannels` floats per pixel alive at once (measured on the bundled
/// model: 0.82 KB per pixel at 512x512, 0.68 KB at 1024x1024, against 6 x 32 x 4 = 0.77 KB);
/// the UNet's largest activations are at 1/8 of the size and its attention works in slices of a
/// fixed budget, so they add comparatively little.
public struct MemoryEstimate: Sendable, Equatable {
    /// Bytes the generation is expected to need at its peak.
    public let bytes: Double
    let width: Int
    let height: Int

    /// Live full-resolution tensors while decoding.
    static let liveFullResolutionTensors = 6.0
    /// Live UNet activations at its first level (per batch entry).
    static let liveUNetTensors = 10.0

    public init(request: GenerationRequest, model: StableDiffusionModel) {
        let (w, h) = request.size(for: model)
        let pixels = Double(w) * Double(h)
        let vae = Self.liveFullResolutionTensors * Double(model.decoder.fullResolutionChannels) * 4 * pixels
        let latentPixels = pixels / Double(model.vaeScaleFactor * model.vaeScaleFactor)
        let batch = request.cfgScale == 1 ? 1.0 : 2.0
        let unet = Self.liveUNetTensors * Double(model.denoiser.activationChannels) * 4 * batch * latentPixels
        bytes = max(vae, unet) + 3 * pixels  // + the image's bytes
        (width, height) = (w, h)
    }

    /// Refuses when the estimate exceeds the memory available now.
    public func check(available: Double? = Self.availableBytes()) throws(GenerationError) {
        guard let available, bytes > available else { return }
        throw .invalid("\(width)x\(height) needs about \(Self.format(bytes)) of memory while decoding, more than the "
                       + "\(Self.format(available)) available; use a smaller size")
    }

    /// Memory available to this process now: the kernel's MemAvailable, or the cgroup's limit
    /// minus its use when that is lower; nil when neither can be read.
    public static func availableBytes() -> Double? {
        var available: Double?
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            available = kilobytes * 1024
        }
        func number(_ path: String) -> Double? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if let limit = number("/sys/fs/cgroup/memory.max"), let used = number("/sys/fs/cgroup/memory.current") {
            available = min(available ?? .infinity, max(0, limit - used))
        }
        return available
    }

    static func format(_ bytes: Double) -> String {
        bytes >= 1e9 ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
    }
}
