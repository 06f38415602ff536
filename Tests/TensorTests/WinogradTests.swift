import CKernels
import Foundation
import Testing
@testable import Tensor

/// The Winograd F(4x4, 3x3) path of `conv2d` against the direct loops in Double, for every
/// instruction-set variant this machine has (each passed explicitly: no process-wide setting changes).
@Suite struct WinogradTests {
    /// (batch, in channels, height, width, out channels, padding): sizes that are not multiples of
    /// the 4x4 tile or of the transforms' 16 lanes, last blocks that are partial, no padding and
    /// wide padding, more outputs than inputs and the reverse.
    static let cases: [(Int, Int, Int, Int, Int, Int)] = [
        (1, 16, 32, 32, 16, 1),
        (2, 17, 23, 29, 19, 1),
        (1, 24, 35, 33, 40, 0),
        (2, 20, 26, 18, 16, 2),
        (3, 33, 21, 22, 18, 1),
        (1, 64, 70, 66, 32, 1),
    ]

    /// Each level the CPU has, lowest first.
    static var levels: [stipple_isa] {
        [STIPPLE_ISA_PORTABLE, STIPPLE_ISA_AVX2, STIPPLE_ISA_AVX512].filter { $0.rawValue <= stipple_isa_detected().rawValue }
    }

    @Test(arguments: cases)
    func matchesReference(shape: (Int, Int, Int, Int, Int, Int)) {
        let (n, c, h, w, o, padding) = shape
        var random = TestRandom(seed: n + 10 * c + 100 * h + 1000 * w + 7 * o + padding)
        let x = random.tensor([n, c, h, w]), weight = random.tensor([o, c, 3, 3], spread: 0.2), bias = random.tensor([o])
        let geometry = ConvolutionGeometry(channels: c, height: h, width: w, kernelHeight: 3, kernelWidth: 3, stride: 1,
                                           padding: padding, outHeight: h + 2 * padding - 2, outWidth: w + 2 * padding - 2)
        #expect(WinogradPlan(batch: n, geometry, outChannels: o, threads: 2) != nil, "this case should go the Winograd way")
        let reference = conv2dReference(x, weight: weight, bias: bias, stride: 1, padding: padding)
        let unbiased = conv2dReference(x, weight: weight, bias: nil, stride: 1, padding: padding)
        for level in Self.levels {
            for threads in [1, 2, 3] {
                // F(4x4, 3x3) in Float: measured up to 5.6e-6 of the output's magnitude at 64 channels (docs/DECISIONS.md).
                expectClose(conv2d(x, weight: weight, bias: bias, stride: 1, padding: padding,
                                   columnBudget: convolutionColumnBudget, threads: threads, isa: level), reference, tolerance: 1e-5)
            }
            expectClose(conv2d(x, weight: weight, bias: nil, stride: 1, padding: padding, columnBudget: convolutionColumnBudget,
                               threads: 2, isa: level), unbiased, tolerance: 1e-5)
        }
    }

    /// Layers whose transformed weights exceed the budget run in passes over chunks of outputs
    /// (here 16 + 16 + 8 of 40, and 16 + 4 of 20).
    @Test(arguments: [(2, 24, 25, 26, 40), (1, 32, 30, 31, 20)], WinogradTests.levels)
    func outputChunks(shape: (Int, Int, Int, Int, Int), level: stipple_isa) {
        let (n, c, h, w, o) = shape
        var random = TestRandom(seed: 3 * c + o)
        let x = random.tensor([n, c, h, w]), weight = random.tensor([o, c, 3, 3], spread: 0.2), bias = random.tensor([o])
        let geometry = ConvolutionGeometry(channels: c, height: h, width: w, kernelHeight: 3, kernelWidth: 3, stride: 1,
                                           padding: 1, outHeight: h, outWidth: w)
        guard let plan = WinogradPlan(batch: n, geometry, outChannels: o, threads: 2, weightBudget: 36 * 16 * c) else {
            Issue.record("no plan")
            return
        }
        #expect(plan.outputChunk == 16)
        let y = Tensor(shape: [n, o, h, w]) { out in
            x.storage.withUnsafeBufferPointer { px in
                weight.storage.withUnsafeBufferPointer { pw in
                    bias.storage.withUnsafeBufferPointer { pb in
                        winogradConvolution(px.baseAddress!, batch: n, geometry, plan, weight: weightMatrix(pw.baseAddress, shape: weight.shape),
                                            bias: pb.baseAddress!, outChannels: o, output: out.baseAddress!, threads: 2,
                                            isa: level)
                    }
                }
            }
        }
        expectClose(y, conv2dReference(x, weight: weight, bias: bias, stride: 1, padding: 1), tolerance: 1e-5)
    }

    /// Narrow layers, few tiles, strides and other kernels keep im2col.
    @Test func planOnlyWhereItPays() {
        func plan(_ n: Int, _ c: Int, _ hw: Int, _ o: Int, kernel: Int = 3, stride: Int = 1) -> WinogradPlan? {
            let out = (hw + 2 - kernel) / stride + 1
            return WinogradPlan(batch: n, ConvolutionGeometry(channels: c, height: hw, width: hw, kernelHeight: kernel,
                                                              kernelWidth: kernel, stride: stride, padding: 1,
                                                              outHeight: out, outWidth: out), outChannels: o, threads: 2)
        }
        #expect(plan(1, 320, 64, 320) != nil)
        #expect(plan(1, 4, 64, 320) == nil)          // the UNet's conv_in: 4 channels
        #expect(plan(1, 128, 512, 3) == nil)         // the VAE's conv_out: 3 outputs
        #expect(plan(1, 320, 64, 320, stride: 2) == nil)
        #expect(plan(1, 320, 64, 320, kernel: 1) == nil)
        #expect(plan(2, 1280, 16, 1280) == nil)      // 32 tiles
        // 472 MB of transformed weights: in 12 even passes of 112 outputs (40 MB each).
        #expect(plan(2, 2560, 32, 1280)?.outputChunk == 112)
        #expect(plan(2, 512, 64, 512)?.outputChunk == 512)    // the VAE's widest layers: one pass
        #expect(plan(2, 640, 32, 640)?.outputChunk == 320)    // 59 MB: two even passes, not 448 + 192
        #expect(plan(1, 64, 12, 64) == nil)          // 9 tiles
    }

    /// The transforms' tiles in a block never leave the image: a NaN just outside a tile's reach
    /// (in memory next to the input) cannot reach the output.
    @Test func readsOnlyInsideTheImage() {
        var random = TestRandom(seed: 5)
        let (c, h, w, o) = (16, 30, 30, 16)
        var padded = random.tensor([1, c + 1, h, w])
        for i in (c * h * w)..<padded.count { padded.storage[i] = .nan }
        let x = Tensor(shape: [1, c, h, w], values: Array(padded.storage[0..<(c * h * w)]))
        let weight = random.tensor([o, c, 3, 3], spread: 0.2)
        let y = conv2d(x, weight: weight, bias: nil, stride: 1, padding: 1)
        #expect(!y.storage.contains { $0.isNaN })
        expectClose(y, conv2dReference(x, weight: weight, bias: nil, stride: 1, padding: 1), tolerance: 1e-5)
    }
}

/// Winograd against im2col on the shapes of SD1.5 (UNet at 512x512 with CFG, the VAE decoder),
/// printed when STIPPLE_KERNEL_BENCH is set (a measurement, not an assertion: timings are noisy).
/// `STIPPLE_KERNEL_BENCH=1 swift test -c release -Xswiftc -enable-testing --skip-build --filter WinogradBenchmark`
@Suite struct WinogradBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STIPPLE_KERNEL_BENCH"] != nil))
    func printTimings() {
        // (batch, in, out, size)
        let shapes = [(2, 320, 320, 64), (2, 960, 320, 64), (2, 640, 640, 32), (2, 1920, 640, 32), (2, 1280, 1280, 32),
                      (2, 1280, 1280, 16), (2, 2560, 1280, 16), (2, 1280, 1280, 8),
                      (1, 512, 512, 64), (1, 512, 512, 128), (1, 256, 256, 256), (1, 128, 128, 512)]
        for (n, c, o, size) in shapes {
            var random = TestRandom(seed: c + o)
            let x = random.tensor([n, c, size, size]), weight = random.tensor([o, c, 3, 3], spread: 0.05), bias = random.tensor([o])
            func median(_ body: () -> Void) -> Double {
                body()
                var times: [Double] = []
                for _ in 0..<3 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    body()
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                return times.sorted()[1]
            }
            let threads = BLASThreads.prepare()
            let fast = median { _ = conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1, columnBudget: convolutionColumnBudget, threads: threads) }
            let plain = median {
                _ = conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1, columnBudget: convolutionColumnBudget,
                           threads: threads, winograd: false)
            }
            let flops = 2.0 * Double(n * c * o * 9 * size * size) / 1e9
            print(String(format: "conv3x3 n%d %4d->%4d @%3d: winograd %.4f s, im2col %.4f s (%.2fx), im2col %.0f GFLOP/s",
                         n, c, o, size, fast, plain, plain / fast, flops / plain))
        }
    }
}
