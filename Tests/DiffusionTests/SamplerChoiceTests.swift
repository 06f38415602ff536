import Foundation
import Testing
@testable import Diffusion

/// The one reader of sampler and schedule text (the command line, the studio's panel and
/// parameters read back from PNGs all use it), and what the parameters text says about them.
@Suite struct SamplerChoiceTests {
    @Test func readsStippleAndA1111SamplerNames() throws {
        #expect(try SamplerChoice(parsing: "euler_a") == SamplerChoice(.eulerA))
        #expect(try SamplerChoice(parsing: "EULER_A") == SamplerChoice(.eulerA))
        #expect(try SamplerChoice(parsing: "Euler a") == SamplerChoice(.eulerA))
        #expect(try SamplerChoice(parsing: "PLMS") == SamplerChoice(.pndm))
        #expect(try SamplerChoice(parsing: "default") == SamplerChoice(.default))
        // A1111 before 1.9 names the schedule in the sampler.
        #expect(try SamplerChoice(parsing: "DPM++ 2M Karras") == SamplerChoice(.dpmpp2M, schedule: .karras))
        for name in SamplerName.allCases {
            #expect(try SamplerChoice(parsing: name.rawValue) == SamplerChoice(name))
            if let display = name.displayName {
                #expect(try SamplerChoice(parsing: display) == SamplerChoice(name))
                #expect(try SamplerChoice(parsing: display + " Karras") == SamplerChoice(name, schedule: .karras))
            }
        }
        // The suffix belongs to A1111's names only, as before.
        #expect(throws: SamplerError.unknownSampler("euler_a Karras")) { try SamplerChoice(parsing: "euler_a Karras") }
        let error = #expect(throws: SamplerError.self) { try SamplerChoice(parsing: "Restart") }
        #expect(error?.description.hasPrefix("unknown sampler \"Restart\"; valid: ddim (DDIM), ") == true)
    }

    @Test func aScheduleInTheNameIsKeptOnlyWhenNamed() {
        var (sampler, schedule) = (SamplerName.euler, SigmaSchedule.exponential)
        SamplerChoice(.dpmpp2M).apply(sampler: &sampler, schedule: &schedule)
        #expect(sampler == .dpmpp2M && schedule == .exponential)
        SamplerChoice(.dpmpp2M, schedule: .karras).apply(sampler: &sampler, schedule: &schedule)
        #expect(sampler == .dpmpp2M && schedule == .karras)
    }

    @Test func readsScheduleNames() throws {
        for schedule in SigmaSchedule.allCases {
            #expect(try SigmaSchedule(parsing: schedule.rawValue) == schedule)
            #expect(try SigmaSchedule(parsing: schedule.rawValue.uppercased()) == schedule)
            if let display = schedule.displayName { #expect(try SigmaSchedule(parsing: display) == schedule) }
        }
        // A1111's Schedule type for the sampler's own schedule; its Uniform is k-diffusion's.
        #expect(try SigmaSchedule(parsing: "Automatic") == .model && SigmaSchedule(parsing: "Uniform") == .uniform)
        #expect(throws: SamplerError.unknownSchedule("karas")) { try SigmaSchedule(parsing: "karas") }
        #expect(SamplerError.unknownSchedule("karas").description == "unknown schedule \"karas\"; valid: default, karras, exponential, uniform")
    }

    /// `Sampler` and `Schedule type` as A1111 1.9+ (its own field) and older versions (a suffix) write
    /// them; `Automatic` keeps a suffix's schedule, and a schedule stipple lacks is refused.
    @Test(arguments: [
        ("Sampler: DPM++ 2M, Schedule type: Karras", SamplerName.dpmpp2M, SigmaSchedule.karras),
        ("Sampler: DPM++ 2M Karras", .dpmpp2M, .karras),
        ("Sampler: DPM++ 2M Karras, Schedule type: Automatic", .dpmpp2M, .karras),
        ("Sampler: DPM++ 2M Karras, Schedule type: Exponential", .dpmpp2M, .exponential),
        // A1111's Automatic is k-diffusion's own schedule (SamplingConvention.kDiffusion, below).
        ("Sampler: Euler a, Schedule type: Automatic", .eulerA, .model),
        ("Sampler: Heun, Schedule type: Uniform", .heun, .uniform),
        ("Sampler: DPM++ 2M, Schedule type: Uniform", .dpmpp2M, .uniform),
        ("Sampler: DDIM, Schedule type: Uniform", .ddim, .model),
        // stipple's own text names its schedule: none is the model's.
        ("Sampler: Euler a, Version: stipple 0.1.0", .eulerA, .model),
        ("Sampler: euler, Schedule type: exponential", .euler, .exponential),
        ("Sampler: deis", .deis, .model),
    ])
    func infotextSamplerAndSchedule(_ fields: String, _ sampler: SamplerName, _ schedule: SigmaSchedule) throws {
        let request = try GenerationRequest(infotext: Infotext(parsing: "a fox\nSteps: 20, \(fields), Seed: 1"))
        #expect(request.sampler == sampler && request.schedule == schedule)
        #expect(request.samplingConvention == (fields.contains("stipple") ? .diffusers : .kDiffusion))
    }

    /// A sampler or schedule stipple lacks leaves the default and says so in one line: the rest of
    /// the image's settings still rerun (`--from` reruns whatever maps).
    @Test func unknownNamesInInfotextAreWarnings() throws {
        let beta = Infotext(parsing: "a fox\nSteps: 20, Sampler: Euler, Schedule type: Beta, Seed: 1")
        let request = try GenerationRequest(infotext: beta)
        #expect(request.sampler == .euler && request.schedule == .model && request.seed == 1)
        #expect(GenerationRequest.warnings(for: beta).contains {
            $0.hasPrefix("Schedule type \"Beta\" is not one stipple has (Karras, Exponential, Uniform); using the sampler's default")
        })
        let restart = Infotext(parsing: "a fox\nSteps: 20, Sampler: Restart, Seed: 1")
        #expect(try GenerationRequest(infotext: restart).sampler == .default)
        #expect(GenerationRequest.warnings(for: restart).contains {
            $0.hasPrefix("sampler \"Restart\" is not one stipple has (") && $0.hasSuffix("using the model's default sampler, so the image will differ")
        })
        #expect(GenerationRequest.warnings(for: Infotext(parsing: "a fox\nSteps: 20, Sampler: Euler a, Seed: 1")).allSatisfy {
            !$0.contains("is not one stipple has")
        })
    }

    /// What stipple writes reads back as the same sampler and schedule, for every combination
    /// (`--from` reruns it); the field line is A1111's, byte for byte.
    @Test func parametersTextRoundTripsEverySamplerAndSchedule() throws {
        let model = try GenerationTests.model()
        for sampler in SamplerName.allCases where sampler != .default {
            for schedule in SigmaSchedule.allCases where sampler.supports(schedule) {
                var request = GenerationRequest(prompt: "a fox")
                (request.sampler, request.schedule) = (sampler, schedule)
                let text = Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil,
                                    version: "stipple 0.1.0")
                let back = try GenerationRequest(infotext: Infotext(parsing: text.text))
                #expect(back.sampler == sampler && back.schedule == schedule, "\(text.text)")
            }
        }
        var request = GenerationRequest(prompt: "a fox")
        (request.sampler, request.schedule) = (.dpmpp2M, .karras)
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "v").text
            == "a fox\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 32x32, Model: sd1, RNG: CPU, Version: v")
        (request.sampler, request.schedule) = (.default, .model)
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "v")["Sampler"] == "PLMS")
        (request.sampler, request.schedule) = (.deis, .exponential)
        #expect(Infotext(request: request, seed: 1, width: 32, height: 32, model: model, modelHash: nil, version: "v").text
            == "a fox\nSteps: 20, Sampler: deis, Schedule type: Exponential, CFG scale: 7, Seed: 1, Size: 32x32, Model: sd1, RNG: CPU, Version: v")
    }
}
