import Diffusion
import Foundation
import Imaging

/// img2img's starting image, read from a PNG or JPEG as `stipple generate --init-image` and the studio's
/// "Init image" field take it.
public enum InitImage {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The image as RGB (alpha flattened over white), resized to `width` x `height` when given,
    /// else to its own size rounded down to a multiple of 8 (as diffusers' image processor does).
    public static func load(path: String, width: Int?, height: Int?) throws(LoadError) -> PixelImage {
        let decoded: RGBImage
        do {
            decoded = try ImageFile.read(path: path)
        } catch {
            throw LoadError(description: error.description)
        }
        var image = decoded.hasAlpha ? decoded.flattened(over: (255, 255, 255)) : decoded
        let targetWidth = width ?? image.width / 8 * 8
        let targetHeight = height ?? image.height / 8 * 8
        guard targetWidth >= 8, targetHeight >= 8 else {
            throw LoadError(description: "\(path): the init image is \(image.width)x\(image.height), smaller than 8x8")
        }
        image = image.fitted(width: targetWidth, height: targetHeight)
        return PixelImage(image)
    }
}
