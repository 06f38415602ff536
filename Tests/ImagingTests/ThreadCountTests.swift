import Foundation
import Parallel
import Testing
@testable import Imaging

/// Imaging splits its work with the one parallel-for, which honours `--threads`: the same bytes
/// on any thread count.
@Suite(.serialized) struct ThreadCountTests {
    @Test func sameImagesAndSixelsOnAnyThreadCount() throws {
        let photo = try SixelSamples.astronaut()
        let previous = Threads.count
        defer { Threads.set(previous) }
        var results: [[[UInt8]]] = []
        for n in [1, 2, 5] {
            Threads.set(n)
            let shrunk = photo.resized(width: 200, height: 150, filter: .area)
            results.append([shrunk.pixels, SixelEncoder().encode(photo),
                            SixelEncoder(settings: SixelEncoder.Settings(dither: .diffusion)).encode(shrunk)])
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }
}
