import Foundation
import Imaging
import Synchronization
import Testing
@testable import Diffusion
@testable import Tensor

/// Weights kept as stored (`StoredWeight`): the Float32 values kernels get are exactly those of
/// `SafetensorsFile.tensor`, layers give bit-identical outputs, `--weight-type` rounds as IEEE
/// does, and the scratch is safe to share between models running at once.
@Suite struct StoredWeightTests {
    static func values(_ weight: StoredWeight) -> [UInt32] {
        weight.withFloat32 { pointer in (0..<weight.count).map { pointer[$0].bitPattern } }
    }

    @Test(arguments: ["f32", "f16", "bf16"])
    func givesTheFloatsTheFileLoaderGives(_ name: String) throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors(name + ".safetensors"))
        let stored = name == "f32" ? "a" : "values"
        let weight = try file.storedWeight(stored, shape: file.info(stored)?.shape)
        #expect(weight.dtype.rawValue == name.uppercased())
        #expect(weight.ownedBytes == 0)  // read in place from the mapping
        let expected = try file.tensor("expected").storage.map(\.bitPattern)
        #expect(Self.values(weight) == expected)
        #expect(Self.values(weight) == expected)  // again, after its pages were handed back
        let width = weight.shape[1]
        var row = [Float](repeating: 0, count: width)
        row.withUnsafeMutableBufferPointer { weight.copyRow(1, into: $0.baseAddress!) }
        #expect(row.map(\.bitPattern) == Array(expected[width..<(2 * width)]))
    }

    @Test func checksShapeAndDtypeAndMarksTheTensorLoaded() throws {
        let path = CheckpointFixtures.safetensors("metadata.safetensors")
        let file = try SafetensorsFile(path: path)
        let mismatch = #expect(throws: CheckpointError.self) { try file.storedWeight("weight", shape: [3, 3]) }
        #expect(mismatch?.reason == .shapeMismatch(actual: [2, 3], expected: [3, 3]))
        let dtype = #expect(throws: CheckpointError.self) { try file.storedWeight("double", shape: nil) }
        #expect(dtype?.reason == .unsupportedDType("F64"))
        _ = try file.storedWeight("weight", shape: [2, 3])
        #expect(file.loadedTensorNames.contains("weight"))
    }

    /// Every layer of the tiny parity models, built from the file as stored and from Float32
    /// tensors, gives the same bits: the fp16 pipeline's UNet on one input.
    @Test func halfPrecisionUNetGivesTheSameBitsAsItsFloat32Copy() throws {
        let component = try DiffusersComponent(model: PipelineTests.folder.appendingPathComponent("sd1-fp16").path,
                                               component: "unet", variant: "fp16")
        let config = try component.loadConfig(UNet2DConditionConfig.self)
        let stored = try component.openWeights()
        let stretched = try UNet2DConditionModel(config: config, weights: stored)
        let float32 = try UNet2DConditionModel(config: config, weights: stored.keeping(.f32))
        let sample = Tensor(shape: [2, 4, 8, 8], values: (0..<512).map { Float(($0 * 37) % 101) / 50 - 1 })
        let context = Tensor(shape: [2, 77, config.crossAttentionDims[0]],
                             values: (0..<(2 * 77 * config.crossAttentionDims[0])).map { Float(($0 * 13) % 29) / 14 - 1 })
        let a = stretched(sample, timesteps: [500, 500], context: context)
        let b = float32(sample, timesteps: [500, 500], context: context)
        #expect(a.storage.map(\.bitPattern) == b.storage.map(\.bitPattern))
    }

    @Test func linearAndConvolutionReadRawWeightsAsTheirTensorTwins() {
        let x = Tensor(shape: [2, 3, 5, 5], values: (0..<150).map { Float($0 % 17) / 8 - 1 })
        let w = Tensor(shape: [4, 3, 3, 3], values: (0..<108).map { Float($0 % 11) / 5 - 1 })
        let bias = Tensor(shape: [4], values: [0.5, -0.25, 0.125, 1])
        let viaTensor = conv2d(x, weight: w, bias: bias, stride: 2, padding: 1)
        let viaPointer = w.storage.withUnsafeBufferPointer {
            conv2d(x, weight: $0.baseAddress, weightShape: w.shape, bias: bias, stride: 2, padding: 1)
        }
        #expect(viaTensor.storage == viaPointer.storage && viaTensor.shape == viaPointer.shape)
        let rows = Tensor(shape: [3, 27], values: (0..<81).map { Float($0 % 7) / 3 - 1 })
        let l = linear(rows, weight: w.reshaped([4, 27]), bias: bias)
        let lp = w.storage.withUnsafeBufferPointer { linear(rows, weight: $0.baseAddress, outFeatures: 4, inFeatures: 27, bias: bias) }
        #expect(l.storage == lp.storage)
    }

    /// Float -> half rounding agrees with Swift's own `Float16(_:)` (IEEE, nearest even) on every
    /// half, every midpoint between neighbours, overflow, subnormals, NaN and a sweep of floats.
    @Test func narrowsToFloat16AsIEEERounds() {
        var inputs: [Float] = [0, -0, .infinity, -.infinity, .nan, 65504, 65519.99, 65520, 1e9, -1e9, 0x1p-25, 0x1.8p-25, 0x1p-26, 1e-30]
        for bits in UInt16(0)...UInt16.max {
            let half = Float(Float16(bitPattern: bits))
            inputs.append(half)
            if half.isFinite { inputs.append(Float(bitPattern: half.bitPattern &+ 1)); inputs.append(half.nextUp) }
        }
        var state: UInt32 = 12345
        for _ in 0..<100_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            inputs.append(Float(bitPattern: state))
        }
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { narrowToFloat16($0.baseAddress!, src.baseAddress!, inputs.count) }
        }
        for (value, half) in zip(inputs, out) {
            let reference = Float16(value)
            if value.isNaN {
                #expect(Float16(bitPattern: half).isNaN)
            } else if half != reference.bitPattern {
                Issue.record("\(value) (\(String(value.bitPattern, radix: 16))): \(half) != \(reference.bitPattern)")
                return
            }
        }
    }

    @Test func narrowsToBFloat16RoundingToNearestEven() {
        let inputs: [Float] = [1, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
                               Float(bitPattern: 0x3F80_7FFF), .greatestFiniteMagnitude, -2.5, .nan, .infinity]
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { narrowToBFloat16($0.baseAddress!, src.baseAddress!, inputs.count) }
        }
        #expect(Array(out[0..<5]) == [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80])  // ties go to the even neighbour
        #expect(out[5] == 0x7F80)  // rounds up to infinity, as IEEE does
        #expect(out[6] == 0xC020)
        #expect(Float(bitPattern: UInt32(out[7]) << 16).isNaN && out[8] == 0x7F80)
    }

    /// `--weight-type f16` keeps the converted weight at 2 bytes an element, rounded as Float16
    /// rounds; f32 of a half-precision file gives its exact values back.
    @Test func convertsOnceToTheWeightTypeAsked() throws {
        let values = (0..<64).map { Float($0) * 0.01 - 0.3 }
        let weight = StoredWeight(Tensor(shape: [8, 8], values: values))
        let half = weight.converted(to: .f16)
        #expect(half.dtype == .f16 && half.ownedBytes == 128)
        #expect(Self.values(half) == values.map { Float(Float16($0)).bitPattern })
        let brain = weight.converted(to: .bf16)
        #expect(brain.dtype == .bf16 && brain.ownedBytes == 128)
        #expect(zip(Self.values(brain), values).allSatisfy { abs(Float(bitPattern: $0) - $1) <= abs($1) * 0x1p-8 })
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors("f16.safetensors"))
        let widened = try file.storedWeight("values", shape: [4, 5]).converted(to: .f32)
        #expect(widened.dtype == .f32 && widened.ownedBytes == 80)
        #expect(Self.values(widened) == (try file.tensor("expected").storage.map(\.bitPattern)))
    }

    /// Two models converting weights at once each get scratch of their own.
    @Test func scratchIsSafeForModelsRunningAtOnce() {
        let weights = (0..<4).map { k in
            StoredWeight(Tensor(shape: [256, 64 + k], values: (0..<(256 * (64 + k))).map { Float(($0 + k) % 97) / 31 })).converted(to: .f16)
        }
        let expected = weights.map { Self.values($0) }
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<50 {
                let index = (worker + round) % weights.count
                if Self.values(weights[index]) != expected[index] { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(ScratchPool.shared.idleFloats > 0)
    }

    /// The tiny fp32 parity pipeline with its weights kept as f16 or bf16 gives nearly the same image
    /// (what the README reports), and f32 of the fp16 pipeline gives exactly the same one.
    @Test func weightTypeChangesTheImageByAFewLevelsAtMost() throws {
        var request = GenerationRequest(prompt: "a red house by the sea at sunset")
        request.negativePrompt = "blurry"
        request.steps = 8
        request.seed = 3
        request.sampler = .euler
        let folder = PipelineTests.folder.appendingPathComponent("sd1").path
        let reference = try Pipeline(model: PipelineTests.models.model("sd1")).run(request)[0].image
        for type in [WeightType.f16, .bf16] {
            let image = try Pipeline(model: StableDiffusionModel(folder: folder, weightType: type)).run(request)[0].image
            let differences = zip(image.rgb, reference.rgb).map { abs(Int($0) - Int($1)) }
            #expect(differences.max() ?? 0 <= (type == .f16 ? 2 : 8), "\(type)")
        }
        let fp16 = PipelineTests.folder.appendingPathComponent("sd1-fp16").path
        let asStored = try Pipeline(model: PipelineTests.models.model("sd1-fp16")).run(request)[0].image
        let widened = try Pipeline(model: StableDiffusionModel(folder: fp16, weightType: .f32)).run(request)[0].image
        #expect(asStored == widened)
    }
}
