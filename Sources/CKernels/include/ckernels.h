// stipple's CPU-specific kernels, in C so that each can be compiled for several instruction sets
// and chosen at run time (see docs/DECISIONS.md, "C kernels with run-time dispatch"). Nothing here
// is built with -march flags: each wide variant carries its own __attribute__((target(...))).
#ifndef STIPPLE_CKERNELS_H
#define STIPPLE_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels a kernel may have a variant for, lowest first.
typedef enum {
    STIPPLE_ISA_PORTABLE = 0, ///< plain C, any CPU (aarch64, older x86)
    STIPPLE_ISA_AVX2 = 1,     ///< x86-64 with AVX2 + FMA, enabled by the OS
    STIPPLE_ISA_AVX512 = 2,   ///< x86-64 with AVX-512 F/VL/DQ/BW, enabled by the OS
} stipple_isa;

/// The best level this CPU and OS support, found once with cpuid/xgetbv, capped by the environment
/// variable STIPPLE_ISA (portable, avx2 or avx512) when that is set: tests and benchmarks use it
/// to run every variant on one machine.
stipple_isa stipple_isa_detected(void);

/// The level kernels use now: stipple_isa_detected() unless stipple_isa_limit lowered it.
stipple_isa stipple_isa_active(void);

/// Caps the level kernels use (never raises it above what was detected); returns the level in use.
stipple_isa stipple_isa_limit(stipple_isa level);

/// Name of a level: "portable", "avx2" or "avx512".
const char *stipple_isa_name(stipple_isa level);

#ifdef __cplusplus
}
#endif

#endif
