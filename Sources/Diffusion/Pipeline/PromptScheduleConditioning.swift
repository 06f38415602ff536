import Tensor

/// The conditioning of a prompt that changes during sampling (A1111's prompt editing and
/// alternation, `PromptSchedule`) or is several weighted prompts (`AND`, `ComposablePrompt`), and
/// of a scheduled negative prompt, for each sampling step.
///
/// As A1111: every distinct text of the schedules is encoded once; the prompt is cut at `AND`
/// first and each part scheduled on its own; the negative prompt is scheduled but never cut (its
/// `AND` is text). At denoiser call i (0-based, counted from the image's first step, img2img
/// included: A1111's `CFGDenoiser.step`) each schedule gives the first entry ending at or after i
/// (`reconstruct_cond_batch`). The batch is [unconditional, part 1, ..., part k]; the guided output
/// is unconditional + sum over parts of (part - unconditional) x (weight x CFG), A1111's
/// `combine_denoised`, which for one part of weight 1 is the usual CFG to the bit.
///
/// Texts of different lengths (prompts past 75 tokens) are padded with the empty prompt's windows
/// to the longest at the step, as the plain path pads prompt and negative prompt (A1111's "pad
/// prompt/negative prompt"; between AND parts A1111 repeats the last token's vector instead). An
/// all-zero conditioning (SDXL's empty negative prompt) is padded with zeros.
struct PromptScheduleConditioning {
    /// One AND part: its weight and its schedule.
    struct Part {
        var weight: Float
        var schedule: PromptSchedule
    }

    var parts: [Part]
    /// The negative prompt's schedule; nil when unguided (no unconditional pass).
    var negative: PromptSchedule?
    var positives: [String: Conditioning]
    var negatives: [String: Conditioning]
    /// The empty prompt's cross-attention windows [1, 77, width], for padding; nil when no text
    /// needs padding.
    var empty: Tensor?

    /// Whether the prompt (or negative prompt) needs any of this: false for a prompt without
    /// editing, alternation or AND, which runs the plain path, exactly as before.
    static func isNeeded(prompt: String, negative: String?, steps: Int) throws(GenerationError) -> Bool {
        do {
            if try !ComposablePrompt(prompt).isSingle { return true }
            if try !PromptSchedule(prompt, steps: steps).isConstant { return true }
            if let negative, try !PromptSchedule(negative, steps: steps).isConstant { return true }
            return false
        } catch {
            throw .invalid(error.description)
        }
    }

    /// Whether the prompt has several AND parts (or one weighted part): the unconditional pass is
    /// then needed whatever the CFG scale.
    static func isComposable(_ prompt: String) -> Bool {
        (try? ComposablePrompt(prompt).isSingle) == false
    }

    /// Schedules and encodings for `request`'s prompts over its steps; `encode` is the model's
    /// conditioner (a text and whether it is the negative prompt -> its conditioning).
    init(prompt: String, negative: String?, steps: Int,
         encode: (String, Bool) throws(GenerationError) -> Conditioning) throws(GenerationError) {
        do {
            parts = try ComposablePrompt(prompt).parts.map { (part) throws(PromptScheduleError) in
                Part(weight: Float(part.weight), schedule: try PromptSchedule(part.text, steps: steps))
            }
            self.negative = try negative.map { (text) throws(PromptScheduleError) in try PromptSchedule(text, steps: steps) }
        } catch {
            throw .invalid(error.description)
        }
        positives = [:]
        negatives = [:]
        for part in parts {
            for entry in part.schedule.entries where positives[entry.text] == nil {
                positives[entry.text] = try encode(entry.text, false)
            }
        }
        for entry in self.negative?.entries ?? [] where negatives[entry.text] == nil {
            negatives[entry.text] = try encode(entry.text, true)
        }
        let lengths = (Array(positives.values) + Array(negatives.values)).map { $0.crossAttention.shape[1] }
        if let shortest = lengths.min(), let longest = lengths.max(), shortest != longest {
            empty = try encode("", false).crossAttention
        }
    }

    /// Every encoding is finite.
    var isFinite: Bool { positives.values.allSatisfy(\.isFinite) && negatives.values.allSatisfy(\.isFinite) }

    /// The weights of the parts, in batch order after the unconditional sample.
    var weights: [Float] { parts.map(\.weight) }

    /// The conditioning batch for denoiser call `step`: [unconditional (when guided), part 1, ...].
    func context(atStep step: Int) -> Conditioning {
        var samples: [Conditioning] = []
        if let negative, let unconditional = negatives[negative.text(atStep: step)] { samples.append(unconditional) }
        for part in parts {
            if let conditioning = positives[part.schedule.text(atStep: step)] { samples.append(conditioning) }
        }
        let length = samples.map { $0.crossAttention.shape[1] }.max() ?? 0
        var batch: Conditioning?
        for sample in samples {
            let padded = padded(sample, to: length)
            batch = batch.map { $0.batched(with: padded) } ?? padded
        }
        return batch ?? Conditioning(crossAttention: Tensor(zeros: [1, 0, 0]))  // never: one part at least
    }

    /// `conditioning` with its cross-attention lengthened to `length` tokens.
    func padded(_ conditioning: Conditioning, to length: Int) -> Conditioning {
        let states = conditioning.crossAttention
        guard states.shape[1] < length, let empty else { return conditioning }
        var result = conditioning
        let filler = states.storage.allSatisfy { $0 == 0 } ? Tensor(zeros: empty.shape) : empty
        result.crossAttention = PromptConditioning.padded(states, to: length, with: filler)
        return result
    }
}
