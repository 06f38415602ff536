import Foundation
import Imaging
import Testing
@testable import Diffusion

/// One case of a pipeline fixture's cases.json (`pipelines/`, `sdxl/`, `lcm/`, `lora/`): what every
/// case has, and the fields only some fixtures write (nil elsewhere).
struct PipelineCase: Decodable, CustomTestStringConvertible {
    /// A LoRA or an embedding a case uses.
    struct Named: Decodable { var name: String }

    var name: String
    var model: String
    var task: String
    /// The base pipeline's folder, relative to the fixture's (lcm, lora).
    var folder: String?
    var prompt: String
    /// nil: diffusers got `negative_prompt=None` (SDXL: zeros); stipple passes "".
    var negative_prompt: String?
    var steps: Int
    var cfg: Double
    var seed: UInt64
    var width: Int
    var height: Int
    var sampler: String
    var schedule: String
    var timestep_spacing: String?
    var clip_skip: Int?
    /// [height, width]
    var original_size: [Int]?
    /// [top, left]
    var crops_coords_top_left: [Int]?
    var strength: Double?
    var init_image: String?
    var output: String
    var loras: [Named]?
    var embeddings: [Named]?

    var testDescription: String { name }

    /// The cases of the fixture in `folder` (none when it cannot be read: `fixturesArePresent` fails).
    static func load(from folder: URL) -> [PipelineCase] {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("cases.json")) else { return [] }
        return (try? JSONDecoder().decode([PipelineCase].self, from: data)) ?? []
    }

    /// The request that runs this case; an init image is read from `folder` (the fixture's).
    func request(imagesIn folder: URL) throws -> GenerationRequest {
        var request = GenerationRequest(prompt: prompt)
        request.negativePrompt = negative_prompt ?? ""
        request.steps = steps
        request.cfgScale = cfg
        request.seed = seed
        request.sampler = try SamplerName(parsing: sampler)
        request.schedule = try SigmaSchedule(parsing: schedule)
        request.timestepSpacing = timestep_spacing.flatMap(TimestepSpacing.init(rawValue:))
        request.clipSkip = clip_skip ?? 1
        request.width = width
        request.height = height
        if let original = original_size {
            (request.sizeConditioning.originalHeight, request.sizeConditioning.originalWidth) = (original[0], original[1])
        }
        if let corner = crops_coords_top_left {
            (request.sizeConditioning.cropTop, request.sizeConditioning.cropLeft) = (corner[0], corner[1])
        }
        request.preview = .off
        if let initName = init_image {
            let image = try PNG.read(path: folder.appendingPathComponent(initName).path).image
            request.initImage = PixelImage(width: image.width, height: image.height, rgb: image.flattened().pixels)
            request.strength = strength ?? 0.75
        }
        return request
    }
}
