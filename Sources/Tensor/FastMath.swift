// Branch-free scalar approximations that the optimiser vectorises inside plain pointer loops
// (no libm calls, no traps). Each is checked against libm in Double by the tests.

/// e^x for x in float range, about 2 ulp: 2^n · e^r with n = round(x / ln 2), |r| ≤ ln2/2, Taylor degree 7.
/// Inputs are clamped to [-87, 88], so very negative x gives about 1.6e-38 instead of 0.
@inline(__always) func fastExp(_ x: Float) -> Float {
    var x = x < -87 ? -87 : x
    x = x > 88 ? 88 : x
    // Adding 1.5 · 2^23 rounds x / ln 2 to the nearest integer and leaves it in the low mantissa bits.
    let shifted = x * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = x - n * 0.693_145_751_953_125 - n * 1.428_606_820_309_417_2e-6
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let exponent = (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23
    return p * Float(bitPattern: exponent)
}

/// x · sigmoid(k · x) = x / (1 + e^(-k·x)).
@inline(__always) func fastSwish(_ x: Float, _ k: Float) -> Float {
    x / (1 + fastExp(-k * x))
}

/// erfc(z) for z ≥ 0 with relative error below about 2e-7 (the Chebyshev-fitted form in Numerical Recipes):
/// t = 1 / (1 + z/2), erfc(z) ≈ t · exp(-z² + P(t)).
@inline(__always) func fastErfcNonNegative(_ z: Float) -> Float {
    let t = 1 / (1 + 0.5 * z)
    var p: Float = 0.170_872_77
    p = p * t - 0.822_152_23
    p = p * t + 1.488_515_87
    p = p * t - 1.135_203_98
    p = p * t + 0.278_868_07
    p = p * t - 0.186_288_06
    p = p * t + 0.096_784_18
    p = p * t + 0.374_091_96
    p = p * t + 1.000_023_68
    p = p * t - 1.265_512_23
    return t * fastExp(p - z * z)
}

/// Exact-form GELU: x/2 · (1 + erf(x/√2)), with 1 + erf written as erfc so that neither tail cancels.
@inline(__always) func fastGELU(_ x: Float) -> Float {
    let q = fastErfcNonNegative(x.magnitude * 0.707_106_78)
    return 0.5 * x * (x >= 0 ? 2 - q : q)
}

/// tanh-approximated GELU: x/2 · (1 + tanh(u)) = x · sigmoid(2u), u = √(2/π) · (x + 0.044715 x³).
@inline(__always) func fastGELUTanh(_ x: Float) -> Float {
    let u = 0.797_884_56 * (x + 0.044_715 * x * x * x)
    return x / (1 + fastExp(-2 * u))
}
