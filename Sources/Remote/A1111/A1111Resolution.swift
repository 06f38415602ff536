import Diffusion
import Foundation

/// The request an image reports, resolved to what the server says it did: the seed from
/// `info`, the sampler and schedule its parameters text names (A1111's `Automatic` becomes the
/// schedule it picked), and for sd-server the noise generator and scheduler from the `SDCPP:`
/// JSON at the end of its text (its `--rng` is the server's, not the request's). So `--from` on a
/// saved image runs the same settings here.
struct A1111Resolution {
    var request: GenerationRequest
    var warnings: [String] = []

    init(payload: A1111Payload, asked: GenerationRequest, info: A1111Info?, infotext: String?, server: String) {
        request = payload.resolved
        if let seed = info?.allSeeds.first ?? info?.seed { request.seed = seed }
        if payload.flavor == .stableDiffusionCpp {
            resolveStableDiffusionCpp(payload: payload, asked: asked, info: info, infotext: infotext, server: server)
        } else {
            resolveA1111(payload: payload, info: info, infotext: infotext, server: server)
        }
    }

    /// A1111 writes the sampler and the schedule it ran (`Schedule type: Karras` for
    /// `Automatic` with DPM++ 2M); a sampler other than the one sent means it fell back.
    private mutating func resolveA1111(payload: A1111Payload, info: A1111Info?, infotext: String?, server: String) {
        if let ran = info?.samplerName, !ran.isEmpty, ran.lowercased() != payload.samplerName.lowercased(),
           !(payload.scheduler == nil && payload.samplerName.lowercased().hasPrefix(ran.lowercased())) {
            warnings.append("\(server) ran sampler \(A1111JSON.quoted(ran)), not \(payload.samplerName)")
            if let choice = try? SamplerChoice(parsing: ran) { request.setSampler(choice) }
        }
        guard let infotext, infotext.utf8.count <= Infotext.maximumLength else { return }
        let text = Infotext(parsing: infotext)
        if let type = text["Schedule type"] {
            if type.lowercased().replacingOccurrences(of: "_", with: " ") == "sgm uniform" {
                (request.schedule, request.timestepSpacing) = (.model, .trailing)
            } else if let schedule = try? SigmaSchedule(parsing: type) {
                request.schedule = schedule
            }
        }
    }

    /// sd-server: `sampler_name` is `NONE` when it did not know the sampler (it then ran the
    /// model's default); the `SDCPP:` JSON names the generator (`cuda` is a port of A1111's Philox
    /// generator, stipple's GPU noise; `cpu` is torch's CPU one) and the scheduler that ran.
    private mutating func resolveStableDiffusionCpp(payload: A1111Payload, asked: GenerationRequest, info: A1111Info?,
                                                     infotext: String?, server: String) {
        if let ran = info?.samplerName, ran != payload.samplerName {
            warnings.append("\(server) ran sampler \(A1111JSON.quoted(ran)), not \(payload.samplerName)")
        }
        guard let json = infotext.flatMap(Self.sdcppJSON) else { return }
        switch A1111JSON.string(json["rng"]) {
        case "cuda"?: request.noiseSource = .gpu
        case "cpu"?: request.noiseSource = .cpu
        case let other?:
            warnings.append("\(server) draws its noise with --rng \(A1111JSON.shown(other)), which stipple does not have; the image cannot be made again here")
        case nil: break
        }
        if request.noiseSource != asked.noiseSource {
            warnings.append("\(server) draws its noise with its own --rng for every request (\(request.noiseSource.rawValue) noise, "
                            + "not \(asked.noiseSource.rawValue)); the image records it")
        }
        let sampling = json["sampling"] as? [String: Any]
        switch A1111JSON.string(sampling?["scheduler"]) {
        // sd.cpp's discrete schedule is k-diffusion's uniform spacing of the model's sigmas.
        case "discrete"?: request.schedule = .model
        case "karras"?: request.schedule = .karras
        case "exponential"?: request.schedule = .exponential
        case "sgm_uniform"?: (request.schedule, request.timestepSpacing) = (.model, .trailing)
        default: break
        }
    }

    /// The `SDCPP: {...}` JSON that ends sd-server's parameters text.
    static func sdcppJSON(_ infotext: String) -> [String: Any]? {
        guard infotext.utf8.count <= Infotext.maximumLength,
              let range = infotext.range(of: ", SDCPP: {", options: .backwards) else { return nil }
        let json = infotext[infotext.index(before: range.upperBound)...]
        return A1111JSON.object(text: String(json))
    }
}
