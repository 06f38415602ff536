/// The xterm 256-colour palette's fixed part: the 6x6x6 colour cube (indices 16-231) and the
/// 24-step grey ramp (232-255). Indices 0-15 follow the user's theme, so they are never chosen.
public enum Xterm256 {
    /// The cube's six levels per channel.
    public static let cubeLevels: [Int] = [0, 95, 135, 175, 215, 255]

    /// The RGB colour of palette index 16...255.
    public static func color(_ index: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        precondition((16...255).contains(index), "only indices 16-255 have fixed colours")
        if index >= 232 {
            let v = UInt8(8 + 10 * (index - 232))
            return (v, v, v)
        }
        let i = index - 16
        return (UInt8(cubeLevels[i / 36]), UInt8(cubeLevels[i / 6 % 6]), UInt8(cubeLevels[i % 6]))
    }

    /// The index (16-255) nearest to an RGB colour in squared RGB distance. The nearest cube
    /// colour is the nearest level on each axis separately (the cube is a separable grid); the
    /// nearest grey is the nearest ramp step to the mean; the closer of the two wins.
    public static func nearest(r: UInt8, g: UInt8, b: UInt8) -> Int {
        let (ri, gi, bi) = (nearestLevel(Int(r)), nearestLevel(Int(g)), nearestLevel(Int(b)))
        let cube = 16 + 36 * ri + 6 * gi + bi
        let cubeDistance = square(Int(r) - cubeLevels[ri]) + square(Int(g) - cubeLevels[gi]) + square(Int(b) - cubeLevels[bi])
        let mean = (Int(r) + Int(g) + Int(b)) / 3
        let step = max(0, min(23, (mean - 8 + 5) / 10))
        let grey = 8 + 10 * step
        let greyDistance = square(Int(r) - grey) + square(Int(g) - grey) + square(Int(b) - grey)
        return greyDistance < cubeDistance ? 232 + step : cube
    }

    @inline(__always) static func nearestLevel(_ v: Int) -> Int {
        // Midpoints between the levels 0, 95, 135, 175, 215, 255.
        v < 48 ? 0 : v < 115 ? 1 : v < 155 ? 2 : v < 195 ? 3 : v < 235 ? 4 : 5
    }

    @inline(__always) static func square(_ v: Int) -> Int { v * v }
}
