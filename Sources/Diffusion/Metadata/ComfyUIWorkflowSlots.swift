/// Where a ComfyUI API-format workflow keeps the settings stipple fills in when it runs that
/// workflow on a server (`[backend] workflow = "file.json"`): the prompt and negative prompt
/// texts, the seed, and, when the graph has them as plain inputs, the size, steps and CFG.
///
/// Found the way `ComfyUIGraph` reads a graph back from an image: the sampler that starts the
/// image (`samplerOrder`), its conditioning followed to the text encoders, its seed to the
/// sampler's own widget or a RandomNoise node, its latent to the empty latent; through primitive
/// nodes to the input that holds the value (`valueSource`). Walks are bounded as there.
public struct ComfyUIWorkflowSlots: Sendable, Equatable {
    /// One input of one node: `graph[node]["inputs"][input]`.
    public struct Slot: Sendable, Hashable, CustomStringConvertible {
        public var node: String
        public var input: String

        public init(node: String, input: String) {
            (self.node, self.input) = (node, input)
        }

        public var description: String { "node \(node) input \(input)" }
    }

    /// The sampler node whose settings these are, as `KSampler node 3`.
    public var sampler: String
    /// The text inputs the positive conditioning was encoded from (two for CLIPTextEncodeSDXL).
    public var positive: [Slot] = []
    /// Likewise for the negative; empty when the sampler has none (or a ConditioningZeroOut).
    public var negative: [Slot] = []
    public var seed: Slot?
    public var steps: Slot?
    public var cfg: Slot?
    public var width: Slot?
    public var height: Slot?
    /// What could not be found, one line each.
    public var notes: [String] = []

    /// The slots of `graph` (API format: node id to `{"class_type", "inputs"}`); nil when the
    /// graph has no sampler node stipple reads.
    public static func find(in graph: [String: Any]) -> ComfyUIWorkflowSlots? {
        let comfy = ComfyUIGraph(json: graph)
        guard let sampler = comfy.samplerOrder().first else { return nil }
        return ComfyUIWorkflowSlots(comfy, sampler: sampler)
    }

    private init(_ graph: ComfyUIGraph, sampler: ComfyUIGraph.Node) {
        self.sampler = sampler.label
        let inputs = sampler.inputs
        func slot(_ node: ComfyUIGraph.Node, _ key: String) -> Slot? {
            guard node.inputs[key] != nil, let source = graph.valueSource(node.inputs[key], in: node, key: key) else { return nil }
            return Slot(node: source.node.id, input: source.key)
        }
        var positiveInput: Any?, negativeInput: Any?
        switch sampler.classType {
        case "KSampler", "KSamplerAdvanced":
            seed = slot(sampler, sampler.classType == "KSampler" ? "seed" : "noise_seed")
            (steps, cfg) = (slot(sampler, "steps"), slot(sampler, "cfg"))
            (positiveInput, negativeInput) = (inputs["positive"], inputs["negative"])
        case "SamplerCustom":
            (seed, cfg) = (slot(sampler, "noise_seed"), slot(sampler, "cfg"))
            steps = graph.linked(inputs["sigmas"]).flatMap { slot($0, "steps") }
            (positiveInput, negativeInput) = (inputs["positive"], inputs["negative"])
        default:  // SamplerCustomAdvanced
            if let noise = graph.linked(inputs["noise"]), noise.classType == "RandomNoise" { seed = slot(noise, "noise_seed") }
            steps = graph.linked(inputs["sigmas"]).flatMap { slot($0, "steps") }
            if let guider = graph.linked(inputs["guider"]) {
                cfg = slot(guider, "cfg")
                positiveInput = guider.inputs["positive"] ?? guider.inputs["conditioning"]
                negativeInput = guider.inputs["negative"]
            }
        }
        positive = Self.textSlots(graph, positiveInput, role: "positive", slot: slot)
        if positive.isEmpty { notes.append("the positive prompt of \(sampler.label) could not be traced to a text encoder") }
        if negativeInput != nil {
            // The same encoder for both (one text used twice) is filled with the prompt only.
            negative = Self.textSlots(graph, negativeInput, role: "negative", slot: slot).filter { !positive.contains($0) }
        }
        if seed == nil { notes.append("the seed of \(sampler.label) could not be found") }
        (width, height) = Self.sizeSlots(graph, sampler: sampler, slot: slot)
    }

    /// The text inputs of the encoder a conditioning input comes from.
    private static func textSlots(_ graph: ComfyUIGraph, _ input: Any?, role: String,
                                  slot: (ComfyUIGraph.Node, String) -> Slot?) -> [Slot] {
        var fields = GenerationFields(tool: "ComfyUI")
        guard let encoder = graph.conditioningText(input, role: role, into: &fields).encoder else { return [] }
        let keys: [String] = switch encoder.classType {
        case "CLIPTextEncodeSDXL": ["text_g", "text_l"]
        case "CLIPTextEncodeFlux": ["t5xxl", "clip_l"]
        case "ConditioningZeroOut": []
        default: ["text"]
        }
        return keys.compactMap { slot(encoder, $0) }
    }

    /// The width and height of the empty latent the sampler starts from, followed back through
    /// nodes that pass a latent on.
    private static func sizeSlots(_ graph: ComfyUIGraph, sampler: ComfyUIGraph.Node,
                                  slot: (ComfyUIGraph.Node, String) -> Slot?) -> (Slot?, Slot?) {
        var current = graph.linked(sampler.inputs["latent_image"])
        var seen: Set<String> = [sampler.id]
        while let node = current, seen.insert(node.id).inserted, seen.count <= ComfyUIGraph.maximumHops {
            if node.classType.hasPrefix("Empty") { return (slot(node, "width"), slot(node, "height")) }
            current = graph.linked(["samples", "latent", "latent_image"].lazy.compactMap { node.inputs[$0] }.first { ComfyUIGraph.isLink($0) })
        }
        return (nil, nil)
    }
}
