import CKernels
import Foundation
import Testing
@testable import Diffusion

/// Files of Fixtures/safetensors/ come from the real `safetensors` library:
///     .venv-ref/bin/python tools/make_safetensors_fixtures.py Tests/DiffusionTests/Fixtures
/// Each holds the stored tensor and `expected`, torch's own `.float()` of it, compared bit for bit.
@Suite struct SafetensorsTests {
    // MARK: Files written by the safetensors library

    @Test(arguments: ["f32", "f16", "bf16"])
    func readsValuesExactlyAsTorchConvertsThem(_ name: String) throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors(name + ".safetensors"))
        let stored = name == "f32" ? "a" : "values"
        let values = try file.tensor(stored)
        let expected = try file.tensor("expected")
        #expect(values.shape == expected.shape)
        #expect(values.storage.map(\.bitPattern) == expected.storage.map(\.bitPattern))
        #expect(file.info(stored)?.dtype.rawValue == name.uppercased())
    }

    @Test func readsSpecialF16Values() throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors("f16.safetensors"))
        let v = try file.tensor("values", shape: [4, 5]).storage
        #expect(v[2] == 1 && v[3] == -1)
        #expect(v[5] == 65504 && v[6] == -65504)
        #expect(v[7] == 0x1p-14)  // smallest normal
        #expect(v[9] == 0x1p-24 && v[10] == -0x1p-24)  // smallest subnormal
        #expect(v[11] == 0x3FFp-24)  // largest subnormal
        #expect(v[13] == .infinity && v[14] == -.infinity && v[15].isNaN)
        #expect(v[1] == 0 && v[1].sign == .minus)
    }

    @Test func readsScalarsEmptyTensorsAndF32SpecialValues() throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors("f32.safetensors"))
        #expect(file.tensorNames == ["a", "empty", "expected", "scalar"])
        let scalar = try file.tensor("scalar", shape: [])
        #expect(scalar.storage == [42.5])
        let empty = try file.tensor("empty", shape: [0, 4])
        #expect(empty.storage.isEmpty)
        let a = try file.tensor("a", shape: [3, 4]).storage
        #expect(a[5] == 0x1p-149 && a[6] == .infinity && a[7] == -.infinity && a[8].isNaN)
    }

    @Test func readsMetadataAndListsDtypesItCannotLoad() throws {
        let path = CheckpointFixtures.safetensors("metadata.safetensors")
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "modelspec.title": "tiny test"])
        #expect(file.tensorNames == ["bytes", "double", "mask", "step", "weight"])
        #expect(file.info("step") == TensorInfo(dtype: TensorInfo.DType(rawValue: "I64"), shape: [1], dataOffsets: file.info("step")!.dataOffsets))
        #expect(file.info("mask")?.dtype.rawValue == "BOOL")
        #expect(try file.tensor("weight").storage == [0, 1, 2, 3, 4, 5])
        let error = #expect(throws: CheckpointError.self) { try file.tensor("double") }
        #expect(error?.reason == .unsupportedDType("F64"))
        #expect(error?.description == path + ": tensor double: dtype F64 cannot be loaded as Float32 (F32, F16 and BF16 can)")
    }

    @Test func readsUnicodeNames() throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors("names.safetensors"))
        #expect(try file.tensor("émoji✓").storage == [1])
        #expect(try file.tensor("down_blocks.0.attentions.0.proj_in.weight", shape: [2, 2, 1, 1]).storage == [1, 1, 1, 1])
    }

    // MARK: Broken files

    @Test(arguments: [
        ("overlapping", "b", CheckpointError.Reason.overlappingData(other: "a")),
        ("offsets_past_end", "a", .invalidOffsets(begin: 0, end: 32, dataSize: 16)),
        ("begin_after_end", "x", .invalidOffsets(begin: 10, end: 5, dataSize: 16)),
        ("size_mismatch", "a", .sizeMismatch(dtype: "F32", shape: [3], byteCount: 16)),
        ("missing_field", "a", .malformedHeader("missing shape")),
        ("negative_dim", "a", .malformedHeader("shape [-4] has a negative dimension")),
        ("header_too_long", nil, .headerLengthExceedsFile(9_999_999_999)),
        ("too_short", nil, .tooShort(byteCount: 3)),
        ("truncated", "expected", .invalidOffsets(begin: 48, end: 96, dataSize: 90)),
    ] as [(String, String?, CheckpointError.Reason)])
    func refusesBrokenFiles(_ name: String, _ tensor: String?, _ reason: CheckpointError.Reason) {
        let path = CheckpointFixtures.safetensors(name + ".safetensors")
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
        #expect(error?.path == path)
        #expect(error?.tensor == tensor)
        #expect(error?.reason == reason)
    }

    @Test func errorMessagesNameFileAndTensor() throws {
        func message(_ name: String) -> String {
            let path = CheckpointFixtures.safetensors(name + ".safetensors")
            do {
                _ = try SafetensorsFile(path: path)
                return "opened"
            } catch {
                return String(error.description.dropFirst(path.count + 2))
            }
        }
        #expect(message("header_too_long") == "header length 9999999999 exceeds the file")
        #expect(message("begin_after_end") == "tensor x: data offsets [10, 5] are invalid (begin is after end)")
        #expect(message("offsets_past_end") == "tensor a: data offsets [0, 32] are invalid (the data area has 16 bytes; is the file truncated?)")
        #expect(message("overlapping") == "tensor b: data overlaps that of tensor a")
        #expect(message("size_mismatch") == "tensor a: F32 of shape [3] does not fill the 16 bytes its data offsets give it")
        #expect(message("not_json").hasPrefix("malformed safetensors header: "))
        #expect(!message("not_json").contains("\n"))

        let path = CheckpointFixtures.safetensors("f32.safetensors")
        let file = try SafetensorsFile(path: path)
        let wrongShape = #expect(throws: CheckpointError.self) { try file.tensor("a", shape: [4, 3]) }
        #expect(wrongShape?.description == path + ": tensor a has shape [3, 4], expected [4, 3]")
        let missing = #expect(throws: CheckpointError.self) { try file.tensor("foo") }
        #expect(missing?.description == path + ": no tensor named foo")
    }

    @Test func refusesPickleCheckpoints() {
        let path = CheckpointFixtures.safetensors("pickle.ckpt")
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
        #expect(error?.reason == .pickle)
        #expect(error?.description.contains("safe_serialization=True") == true)
    }

    @Test func refusesWhatIsNotAFile() throws {
        let missing = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: "/nonexistent/model.safetensors") }
        #expect(missing?.reason == .unreadable("no such file"))
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let directory = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: folder.url.path) }
        #expect(directory?.reason == .unreadable("is not a regular file (a folder)"))
    }

    @Test func refusesHeadersOverTheFormatLimit() {
        // Only the first 8 bytes are read before the length is refused.
        let file = UnsafeMutableRawBufferPointer.allocate(byteCount: 100_000_100, alignment: 8)
        defer { file.deallocate() }
        for (i, byte) in SafetensorsBuilder.littleEndian(UInt64(100_000_001)).enumerated() { file[i] = byte }
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile.readHeader(UnsafeRawBufferPointer(file), path: "big") }
        #expect(error?.reason == .headerLengthExceedsLimit(100_000_001))
    }

    // MARK: Files written byte by byte

    @Test(arguments: [0, 1, 2, 3])
    func readsUnalignedData(_ padding: Int) throws {
        var builder = SafetensorsBuilder(headerPadding: padding)
        builder.add("half", f16: [0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555], shape: [5])
        builder.add("brain", bf16: [0x3F80, 0xC049, 0x0001], shape: [3, 1])
        builder.add("single", f32: [1.5, -2.25, .pi], shape: [1, 3])
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try SafetensorsFile(path: folder.write("odd.safetensors", builder.bytes))
        #expect(try file.tensor("half").storage == [1, -2, 0x1p-24, .infinity, Float(Float16(bitPattern: 0x3555))])
        #expect(try file.tensor("brain", shape: [3, 1]).storage == [1, -3.140625, Float(bitPattern: 0x0001_0000)])
        #expect(try file.tensor("single").storage == [1.5, -2.25, .pi])
    }

    @Test func convertsLargeTensorsInParallelPieces() throws {
        let count = 2 * conversionChunkElements + 12345  // three pieces, the last one short
        let bits = (0..<count).map { UInt16(truncatingIfNeeded: $0 &* 40503) }
        var builder = SafetensorsBuilder()
        builder.add("half", dtype: "F16", raw: bits, shape: [count])
        builder.add("brain", dtype: "BF16", raw: bits, shape: [count])
        builder.add("single", dtype: "F32", raw: bits.map { Float($0) - 1000 }, shape: [count])
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try SafetensorsFile(path: folder.write("big.safetensors", builder.bytes))
        let half = try file.tensor("half").storage
        let brain = try file.tensor("brain").storage
        let single = try file.tensor("single").storage
        #expect(half.count == count && brain.count == count && single.count == count)
        var mismatches = 0
        for i in 0..<count {
            let h = Float(Float16(bitPattern: bits[i]))
            if half[i].bitPattern != h.bitPattern && !(half[i].isNaN && h.isNaN) { mismatches += 1 }
            if brain[i].bitPattern != UInt32(bits[i]) << 16 { mismatches += 1 }
            if single[i] != Float(bits[i]) - 1000 { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// Every instruction-set variant of the conversion `convertFloat16` runs (F16C at AVX2 and
    /// AVX-512, the bit recipe otherwise), each at a length that leaves a tail for the scalar loop.
    @Test func float16ConversionMatchesSwiftsFloat16ForEveryBitPattern() {
        let bits = (0...UInt16.max).map { $0 } + [0x3C00, 0x8001, 0x7C01]
        var reference = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBytes { convertFloat16Reference(&reference, $0.baseAddress!, bits.count) }
        let levels = [STIPPLE_ISA_PORTABLE, STIPPLE_ISA_AVX2, STIPPLE_ISA_AVX512].filter { $0.rawValue <= stipple_isa_detected().rawValue }
        for level in levels.map(Optional.some) + [nil] {  // nil: `convertFloat16` itself, at the level in use
            var fast = [Float](repeating: 0, count: bits.count)
            bits.withUnsafeBytes { src in
                if let level { stipple_f16_to_f32_at(&fast, src.baseAddress!, bits.count, level) } else { convertFloat16(&fast, src.baseAddress!, bits.count) }
            }
            let differing = (0..<bits.count).filter { i in
                fast[i].isNaN ? !(reference[i].isNaN && fast[i].sign == reference[i].sign) : fast[i].bitPattern != reference[i].bitPattern
            }
            #expect(differing.isEmpty, "level \(level.map { String($0.rawValue) } ?? "in use"): first differing bit pattern: \(differing.first.map { String(bits[$0], radix: 16) } ?? "-")")
            // NaNs keep their payload, quietened as torch's .float() leaves 0x7E00.
            #expect(fast[0x7E00].bitPattern == 0x7FC0_0000)
        }
    }

    @Test func zeroSizedTensorsAndGapsAreAllowed() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#
        let data = SafetensorsBuilder.littleEndian(Float(1).bitPattern) + SafetensorsBuilder.littleEndian(Float(2).bitPattern)
            + [0, 0, 0, 0] + SafetensorsBuilder.littleEndian(Float(3).bitPattern)
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try SafetensorsFile(path: folder.write("gaps.safetensors", SafetensorsBuilder.file(header: header, data: data)))
        #expect(try file.tensor("a").storage == [1, 2])
        #expect(try file.tensor("z", shape: [0, 3]).storage.isEmpty)
        #expect(try file.tensor("b").storage == [3])
    }

    @Test func refusesShapesWhoseElementCountOverflowsForDtypesItCannotLoad() throws {
        // Found writing the fuzz target: a dtype stipple does not know has no byte count to check
        // its shape against, and `elementCount` (which the single-file layout reads) trapped.
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let header = #"{"q":{"dtype":"Q4_K","shape":[4611686018427387904,4],"data_offsets":[0,2]}}"#
        let path = try folder.write("overflow.safetensors", SafetensorsBuilder.file(header: header, data: [0, 0]))
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
        #expect(error?.tensor == "q")
        #expect(error?.reason == .malformedHeader("shape [4611686018427387904, 4] has more elements than fit in an Int"))
        // A zero dimension first keeps the count at 0, as `elementCount` computes it.
        let empty = #"{"q":{"dtype":"Q4_K","shape":[0,4611686018427387904,4],"data_offsets":[0,2]}}"#
        let file = try SafetensorsFile(path: folder.write("empty.safetensors", SafetensorsBuilder.file(header: empty, data: [0, 0])))
        #expect(file.info("q")?.elementCount == 0)
    }

    @Test(arguments: [
        (#"[1, 2]"#, "the header is not a JSON object"),
        (#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, "data_offsets must be [begin, end], not [0]"),
        (#"{"a": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}}"#, "shape[0]: expected an integer"),
        (#"{"a": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}}"#, "dtype: expected a string"),
        (#"{"__metadata__": {"x": 1}}"#, "__metadata__.x: expected a string"),
    ])
    func explainsMalformedHeaders(_ header: String, _ detail: String) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write("bad.safetensors", SafetensorsBuilder.file(header: header, data: [0, 0, 0, 0]))
        let error = #expect(throws: CheckpointError.self) { try SafetensorsFile(path: path) }
        guard case .malformedHeader(let text) = error?.reason else {
            Issue.record("expected a malformed header, got \(String(describing: error))")
            return
        }
        #expect(text == detail)
    }

    // MARK: Weight sources

    @Test func tracksLoadedTensors() throws {
        let file = try SafetensorsFile(path: CheckpointFixtures.safetensors("f32.safetensors"))
        #expect(file.loadedTensorNames.isEmpty)
        _ = try file.tensor("a")
        _ = try file.tensor("scalar", shape: [])
        _ = try? file.tensor("empty", shape: [1])  // refused: not loaded
        #expect(file.loadedTensorNames == ["a", "scalar"])
        #expect(file.unusedTensorNames == ["empty", "expected"])
    }

    @Test func prefixedViewsNameTensorsRelatively() throws {
        var builder = SafetensorsBuilder()
        builder.add("text_model.embeddings.token_embedding.weight", f32: [1, 2, 3, 4], shape: [2, 2])
        builder.add("text_model.encoder.layers.0.mlp.fc1.bias", f32: [5, 6], shape: [2])
        builder.add("logit_scale", f32: [7], shape: [])
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write("te.safetensors", builder.bytes)
        let file = try SafetensorsFile(path: path)
        let text = file.prefixed("text_model.")
        #expect(text.tensorNames == ["embeddings.token_embedding.weight", "encoder.layers.0.mlp.fc1.bias"])
        #expect(text.contains("encoder.layers.0.mlp.fc1.bias") && !text.contains("logit_scale"))
        let layer = text.prefixed("encoder.layers.0.")
        #expect(layer.prefix == "text_model.encoder.layers.0.")
        #expect(try layer.tensor("mlp.fc1.bias", shape: [2]).storage == [5, 6])
        #expect(layer.loadedTensorNames == ["mlp.fc1.bias"])
        #expect(text.unusedTensorNames == ["embeddings.token_embedding.weight"])
        let error = #expect(throws: CheckpointError.self) { try layer.tensor("mlp.fc1.bias", shape: [3]) }
        #expect(error?.description == path + ": tensor text_model.encoder.layers.0.mlp.fc1.bias has shape [2], expected [3]")
        let weights: any WeightSource = text
        #expect(try weights.tensor("embeddings.token_embedding.weight").shape == [2, 2])
    }

    @Test func shardedWeightsJoinTheirShards() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        var first = SafetensorsBuilder(), second = SafetensorsBuilder()
        first.add("conv_in.weight", f32: [1, 2], shape: [2])
        second.add("conv_out.weight", f16: [0x3C00], shape: [1])
        second.add("conv_out.bias", f32: [3], shape: [1])
        try folder.write("m-00001-of-00002.safetensors", first.bytes)
        try folder.write("m-00002-of-00002.safetensors", second.bytes)
        let index = try folder.write("m.safetensors.index.json", text: """
            {"metadata": {"total_size": 14}, "weight_map": {"conv_in.weight": "m-00001-of-00002.safetensors",
             "conv_out.weight": "m-00002-of-00002.safetensors"}}
            """)
        let weights = try ShardedWeights(indexPath: index)
        #expect(weights.tensorNames == ["conv_in.weight", "conv_out.bias", "conv_out.weight"])
        #expect(try weights.tensor("conv_out.weight", shape: [1]).storage == [1])
        #expect(try weights.prefixed("conv_").tensor("in.weight", shape: [2]).storage == [1, 2])
        #expect(weights.unusedTensorNames == ["conv_out.bias"])
        let missing = #expect(throws: CheckpointError.self) { try weights.tensor("nope", shape: [1]) }
        #expect(missing?.description == index + ": no tensor named nope")
    }

    @Test(arguments: [
        (#"{"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}"#, "weight_map puts tensor b in s1.safetensors, which has no such tensor"),
        (#"{"weight_map": {"a": "s1.safetensors", "a2": "s2.safetensors"}}"#, "tensor a is in both s1.safetensors and s2.safetensors"),
        (#"{"weight_map": {"a": "../s1.safetensors"}}"#, "shard ../s1.safetensors is not a file name beside the index"),
        (#"{"weight_map": {}}"#, "weight_map is empty"),
        (#"{"weights": {}}"#, "missing weight_map"),
    ])
    func refusesInconsistentShardIndexes(_ json: String, _ detail: String) throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        var shard = SafetensorsBuilder()
        shard.add("a", f32: [1], shape: [1])
        try folder.write("s1.safetensors", shard.bytes)
        shard.add("a2", f32: [2], shape: [1])
        try folder.write("s2.safetensors", shard.bytes)
        let index = try folder.write("x.safetensors.index.json", text: json)
        let error = #expect(throws: CheckpointError.self) { try ShardedWeights(indexPath: index) }
        #expect(error?.reason == .invalidIndex(detail))
    }
}
