// Run-time instruction-set detection for the kernels' dispatch.
#include "ckernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static stipple_isa probe(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return STIPPLE_ISA_PORTABLE;
    const int osxsave = (ecx >> 27) & 1, fma = (ecx >> 12) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
    if (!osxsave || !avx || !fma || !f16c) return STIPPLE_ISA_PORTABLE;
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return STIPPLE_ISA_PORTABLE; // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return STIPPLE_ISA_PORTABLE;
    const int avx2 = (ebx >> 5) & 1;
    if (!avx2) return STIPPLE_ISA_PORTABLE;
    const int avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1, avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    if (avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xE6) == 0xE6) return STIPPLE_ISA_AVX512; // + opmask, ZMM state
    return STIPPLE_ISA_AVX2;
}
#else
static stipple_isa probe(void) { return STIPPLE_ISA_PORTABLE; }
#endif

static stipple_isa cap_from_environment(stipple_isa level) {
    const char *requested = getenv("STIPPLE_ISA");
    if (requested == NULL) return level;
    stipple_isa cap = level;
    if (strcmp(requested, "portable") == 0) cap = STIPPLE_ISA_PORTABLE;
    else if (strcmp(requested, "avx2") == 0) cap = STIPPLE_ISA_AVX2;
    else if (strcmp(requested, "avx512") == 0) cap = STIPPLE_ISA_AVX512;
    return cap < level ? cap : level;
}

// -1 until first use; then the detected level, and the active level (which tests may lower).
static _Atomic int detected_level = -1;
static _Atomic int active_level = -1;

stipple_isa stipple_isa_detected(void) {
    int level = atomic_load_explicit(&detected_level, memory_order_acquire);
    if (level < 0) {
        level = (int)cap_from_environment(probe());
        atomic_store_explicit(&detected_level, level, memory_order_release);
    }
    return (stipple_isa)level;
}

stipple_isa stipple_isa_active(void) {
    int level = atomic_load_explicit(&active_level, memory_order_acquire);
    if (level < 0) {
        level = (int)stipple_isa_detected();
        atomic_store_explicit(&active_level, level, memory_order_release);
    }
    return (stipple_isa)level;
}

stipple_isa stipple_isa_limit(stipple_isa level) {
    const stipple_isa detected = stipple_isa_detected();
    const stipple_isa chosen = level < detected ? level : detected;
    atomic_store_explicit(&active_level, (int)chosen, memory_order_release);
    return chosen;
}

const char *stipple_isa_name(stipple_isa level) {
    switch (level) {
    case STIPPLE_ISA_AVX2: return "avx2";
    case STIPPLE_ISA_AVX512: return "avx512";
    default: return "portable";
    }
}
