import Synchronization

/// Floating-point operations done by the model layers, counted the way PyTorch's
/// `FlopCounterMode` counts them: 2 per multiply-add of every matrix product, convolution and
/// attention product (norms, activations and additions are not counted). A benchmark reads
/// the difference around a call to report GFLOP/s.
public enum OperationCount {
    private static let total = Atomic<Int>(0)

    /// Operations counted since the process started.
    public static var current: Int { total.load(ordering: .relaxed) }

    /// Adds `multiplyAdds` x 2 operations.
    static func add(multiplyAdds: Int) {
        total.add(2 * multiplyAdds, ordering: .relaxed)
    }
}
