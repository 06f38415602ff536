/// A sampler and schedule as another tool names them, converted to the names stipple reads:
/// A1111's `Sampler` (what `SamplerChoice(parsing:)` knows), `Schedule type` (`Automatic`,
/// `Karras`, `Exponential`, `SGM Uniform`) and stipple's `Timestep spacing`; `notes` say what
/// has no equivalent (then the field is left out and stipple's default is used).
struct SamplerMapping: Equatable {
    var sampler: String?
    var schedule: String?
    var timestepSpacing: String?
    var notes: [String] = []
}

/// The sampler and scheduler names of other tools, read from their sources (see
/// Tests/DiffusionTests/Fixtures/metadata/README.md): ComfyUI's `KSAMPLER_NAMES`,
/// `SAMPLER_NAMES` and `SCHEDULER_NAMES` (comfy/sampler_names.py), also used by Fooocus and
/// SwarmUI; InvokeAI's `SCHEDULER_NAME_VALUES` and its 2.x names; NovelAI's; and
/// stable-diffusion.cpp's `sample_method_to_str` / `scheduler_to_str`.
enum ForeignSamplerNames {
    /// ComfyUI's k-diffusion names to A1111's; nil where stipple has no such sampler.
    static let comfyUI: [String: String] = [
        "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a",
        "lms": "LMS", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE", "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
        "ddim": "DDIM", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "lcm": "LCM", "ddpm": "ddpm", "deis": "deis",
    ]

    /// A ComfyUI-named sampler and scheduler (ComfyUI, Fooocus, SwarmUI), `tool` naming it in notes.
    static func comfyUI(sampler: String?, scheduler: String?, tool: String) -> SamplerMapping {
        var mapping = SamplerMapping()
        if let sampler {
            if let name = comfyUI[sampler] {
                mapping.sampler = name
                if sampler.hasSuffix("_gpu") {
                    mapping.notes.append("\(tool) sampler '\(sampler)' draws its SDE noise on the GPU; stipple runs DPM++ 2M SDE with its own noise, so the image will differ")
                }
            } else {
                mapping.notes.append("\(tool) sampler '\(sampler)' has no stipple equivalent; using default")
            }
        }
        if let scheduler {
            switch scheduler {
            // k-diffusion's own spacing of the model's sigmas: A1111's Automatic.
            case "normal": mapping.schedule = "Automatic"
            case "karras": mapping.schedule = "Karras"
            case "exponential": mapping.schedule = "Exponential"
            case "sgm_uniform": mapping.schedule = "SGM Uniform"
            case "simple":
                // Every (1000/steps)-th of the model's sigmas counted from the last: trailing spacing.
                mapping.timestepSpacing = "trailing"
                mapping.notes.append("\(tool) scheduler 'simple' is run as trailing timestep spacing (its timesteps rounded to whole steps), so the image may differ slightly")
            default:
                mapping.notes.append("\(tool) scheduler '\(scheduler)' has no stipple equivalent; using default")
            }
        }
        return mapping
    }

    /// InvokeAI 3+ scheduler names (`euler_k` is Euler with Karras sigmas).
    static func invokeAI(_ name: String) -> SamplerMapping {
        let base: [String: String] = [
            "ddim": "DDIM", "ddpm": "ddpm", "deis": "deis", "lms": "LMS", "pndm": "PLMS", "heun": "Heun", "euler": "Euler",
            "euler_a": "Euler a", "kdpm_2": "DPM2", "kdpm_2_a": "DPM2 a", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
            "unipc": "UniPC", "lcm": "LCM",
        ]
        var mapping = SamplerMapping()
        let karras = name.hasSuffix("_k")
        let stem = karras ? String(name.dropLast(2)) : name
        guard let sampler = base[stem] else {
            mapping.notes.append("InvokeAI scheduler '\(name)' has no stipple equivalent; using default")
            return mapping
        }
        mapping.sampler = sampler
        mapping.schedule = karras ? "Karras" : "Automatic"
        return mapping
    }

    /// InvokeAI 2.x (and its `Dream` text) sampler names.
    static func invokeAILegacy(_ name: String) -> SamplerMapping {
        let names: [String: String] = [
            "ddim": "DDIM", "plms": "PLMS", "k_lms": "LMS", "k_dpm_2": "DPM2", "k_dpm_2_a": "DPM2 a", "k_dpmpp_2": "DPM++ 2M",
            "k_euler": "Euler", "k_euler_a": "Euler a", "k_heun": "Heun",
        ]
        guard let sampler = names[name] else {
            return SamplerMapping(notes: ["InvokeAI sampler '\(name)' has no stipple equivalent; using default"])
        }
        return SamplerMapping(sampler: sampler)
    }

    /// NovelAI's sampler and `noise_schedule` names.
    static func novelAI(sampler: String?, schedule: String?) -> SamplerMapping {
        let names: [String: String] = [
            "k_euler": "Euler", "k_euler_ancestral": "Euler a", "k_dpmpp_2m": "DPM++ 2M", "k_dpmpp_2m_sde": "DPM++ 2M SDE",
            "k_lms": "LMS", "k_heun": "Heun", "k_dpm_2": "DPM2", "k_dpm_2_ancestral": "DPM2 a", "ddim": "DDIM", "ddim_v3": "DDIM",
        ]
        var mapping = SamplerMapping()
        if let sampler {
            if let name = names[sampler] { mapping.sampler = name } else {
                mapping.notes.append("NovelAI sampler '\(sampler)' has no stipple equivalent; using default")
            }
        }
        switch schedule {
        case nil: break
        case "native"?: mapping.schedule = "Automatic"
        case "karras"?: mapping.schedule = "Karras"
        case "exponential"?: mapping.schedule = "Exponential"
        case let other?: mapping.notes.append("NovelAI noise schedule '\(other)' has no stipple equivalent; using default")
        }
        return mapping
    }

    /// stable-diffusion.cpp's `Sampler:` value: its sampler name, then its scheduler's when one
    /// was chosen (`euler_a`, `dpm++2m karras`).
    static func stableDiffusionCpp(_ text: String) -> SamplerMapping {
        let names: [String: String] = [
            "euler": "Euler", "euler_a": "Euler a", "heun": "Heun", "dpm2": "DPM2", "dpm++2m": "DPM++ 2M",
            "dpm++2m_sde": "DPM++ 2M SDE", "lcm": "LCM", "lms": "LMS", "ddim_trailing": "DDIM",
        ]
        let words = text.split(separator: " ").map(String.init)
        var mapping = SamplerMapping()
        guard let method = words.first else { return mapping }
        if let name = names[method] {
            mapping.sampler = name
            if method == "ddim_trailing" { mapping.timestepSpacing = "trailing" }
        } else {
            mapping.notes.append("stable-diffusion.cpp sampler '\(method)' has no stipple equivalent; using default")
        }
        if words.count > 1 {
            let scheduler = words.dropFirst().joined(separator: " ")
            let comfyNamed = ["discrete": "normal", "karras": "karras", "exponential": "exponential", "sgm_uniform": "sgm_uniform",
                              "simple": "simple"][scheduler]
            let scheduled = comfyUI(sampler: nil, scheduler: comfyNamed ?? scheduler, tool: "stable-diffusion.cpp")
            mapping.schedule = scheduled.schedule
            mapping.timestepSpacing = scheduled.timestepSpacing ?? mapping.timestepSpacing
            mapping.notes += scheduled.notes
        }
        return mapping
    }
}
