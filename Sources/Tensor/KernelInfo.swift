import CBLAS
import CKernels

/// What the kernels run on, for benchmark reports: the instruction-set variant of stipple's own C
/// kernels (chosen at run time; `STIPPLE_ISA` caps it) and the core OpenBLAS chose for sgemm (its
/// own run-time choice; `OPENBLAS_CORETYPE` overrides it, and a wrong one costs a third of the speed).
public enum KernelInfo {
    /// "avx512", "avx2" or "portable".
    public static var instructionSet: String { String(cString: stipple_isa_name(stipple_isa_active())) }

    /// OpenBLAS's kernel core, e.g. "Cooperlake" or "Haswell".
    public static var blasCore: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
