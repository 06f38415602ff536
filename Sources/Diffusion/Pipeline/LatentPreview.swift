import Foundation
import UserFiles
import Tensor

/// A linear map from latent channels to RGB: `rgb = bias + sum_c latent[c] * factors[c]`, in
/// [-1, 1], the way ComfyUI and stable-diffusion.cpp draw cheap previews without the VAE.
public struct LatentPreviewFactors: Sendable, Equatable, Codable {
    /// One RGB row per latent channel.
    public var factors: [[Float]]
    /// Added to every pixel (RGB).
    public var bias: [Float]

    public init(factors: [[Float]], bias: [Float] = [0, 0, 0]) {
        self.factors = factors
        self.bias = bias
    }

    /// SD1.x / SD2.x (one VAE latent space): ComfyUI's factors, applied to the VAE-scaled latent.
    public static let stableDiffusion = LatentPreviewFactors(factors: [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ])

    /// SDXL's VAE latent space (0.13025-scaled): ComfyUI's published factors and bias (its
    /// `latent_formats.SDXL`, fitted on real SDXL decodes).
    public static let stableDiffusionXL = LatentPreviewFactors(factors: [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ], bias: [0.1084, -0.0175, -0.0011])

    /// The factors for a model with no file of its own: its family's for 4 channels, else a grey mean.
    static func standard(family: ModelFamily = .sd1, latentChannels: Int) -> LatentPreviewFactors {
        guard latentChannels == 4 else {
            return LatentPreviewFactors(factors: Array(repeating: Array(repeating: 1 / Float(latentChannels), count: 3),
                                                       count: latentChannels))
        }
        return family == .sdxl ? .stableDiffusionXL : .stableDiffusion
    }

    /// File in a model folder holding fitted factors (models of our own, see tools/).
    public static let fileName = "stipple_preview.json"

    /// The factors stored in `folder/stipple_preview.json`, nil when absent or not valid.
    static func load(folder: String) -> LatentPreviewFactors? {
        let path = URL(fileURLWithPath: folder).appendingPathComponent(fileName)
        guard let data = try? UserFile.read(path.path),
              let factors = try? JSONDecoder().decode(LatentPreviewFactors.self, from: data),
              factors.bias.count == 3, factors.factors.allSatisfy({ $0.count == 3 }) else { return nil }
        return factors
    }

    /// RGB bytes (row-major, 3 per pixel) of `latent` [1, C, h, w], one pixel per latent cell.
    public func rgb(_ latent: Tensor) -> PixelImage {
        let (channels, height, width) = (latent.shape[1], latent.shape[2], latent.shape[3])
        let plane = height * width
        var bytes = [UInt8](repeating: 0, count: plane * 3)
        latent.storage.withUnsafeBufferPointer { x in
            for p in 0..<plane {
                for k in 0..<3 {
                    var v = bias[k]
                    for c in 0..<min(channels, factors.count) { v += x[c * plane + p] * factors[c][k] }
                    // NaN (refused by the pipeline before a preview is made) is black, not a trap.
                    bytes[p * 3 + k] = v > -1 ? UInt8(((min(v, 1) + 1) * 127.5).rounded()) : 0
                }
            }
        }
        return PixelImage(width: width, height: height, rgb: bytes)
    }
}

/// 8-bit RGB pixels, row-major, 3 bytes per pixel: what the engine hands to whoever shows or
/// saves an image (the engine itself knows no image files).
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var rgb: [UInt8]

    public init(width: Int, height: Int, rgb: [UInt8]) {
        precondition(rgb.count == width * height * 3, "\(rgb.count) bytes for \(width)x\(height) RGB")
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    /// A decoded VAE image [1, 3, H, W] in [-1, 1] as bytes, the way diffusers' image processor
    /// does it: `(x / 2 + 0.5).clamp(0, 1)`, then `(v * 255).round()`.
    public init(decoded image: Tensor) {
        let (height, width) = (image.shape[2], image.shape[3])
        let plane = height * width
        var bytes = [UInt8](repeating: 0, count: plane * 3)
        image.storage.withUnsafeBufferPointer { x in
            for c in 0..<3 {
                for p in 0..<plane {
                    bytes[p * 3 + c] = Self.byte(unit: x[c * plane + p] / 2 + 0.5)
                }
            }
        }
        self.init(width: width, height: height, rgb: bytes)
    }

    /// `round(clamp(v, 0, 1) * 255)`, half to even as torch rounds; NaN (which the pipeline
    /// refuses before it gets here) is 0 rather than a trap.
    @inline(__always) static func byte(unit v: Float) -> UInt8 {
        guard v > 0 else { return 0 }  // also NaN
        return UInt8((min(v, 1) * 255).rounded(.toNearestOrEven))
    }

    /// The image as [1, 3, H, W] in [-1, 1] (`2 * v / 255 - 1`), the VAE encoder's input.
    public var normalized: Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: plane * 3)
        for p in 0..<plane {
            for c in 0..<3 { values[c * plane + p] = 2 * (Float(rgb[p * 3 + c]) / 255) - 1 }
        }
        return Tensor(shape: [1, 3, height, width], values: values)
    }
}
