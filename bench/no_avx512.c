/* Makes this process's CPUID say "AVX2, no AVX-512, no VNNI", so that LiteRT (XNNPACK), NumPy and
 * OpenCV pick the kernels they would pick on such a CPU: a laptop's, or a cloud machine's before
 * AVX-512. Built and preloaded by bench/no_avx512.py; see there for why and how it is used.
 *
 * Linux on x86-64 can make the CPUID instruction fault in user space (arch_prctl ARCH_SET_CPUID,
 * "cpuid_fault" in /proc/cpuinfo). The SIGSEGV handler below runs the real instruction with faulting
 * briefly off, clears the AVX-512 and VNNI bits of leaf 7 and steps over the instruction. Faulting is
 * per thread and inherited by threads started later, so it is switched on in the constructor, before
 * any library's thread pool exists. Nothing happens unless BACKDROP_HIDE_AVX512=1. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Leaf 7, sub-leaf 0: AVX-512 F, DQ, IFMA, PF, ER, CD, BW, VL (EBX); VBMI, VBMI2, VNNI, BITALG,
 * VPOPCNTDQ (ECX); 4VNNIW, 4FMAPS, VP2INTERSECT, FP16 (EDX). Sub-leaf 1: AVX-VNNI, AVX512-BF16 (EAX). */
#define HIDDEN_7_0_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
#define HIDDEN_7_0_ECX ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
#define HIDDEN_7_0_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
#define HIDDEN_7_1_EAX ((1u << 4) | (1u << 5))

/* Read through ctypes by bench/no_avx512.py: whether faulting was switched on, and how many CPUID
 * instructions were answered with the bits hidden. */
int backdrop_avx512_hidden = 0;
long backdrop_cpuid_answered = 0;

static long cpuid_faulting(int off) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, off); }

static void answer_cpuid(int sig, siginfo_t *info, void *raw) {
    (void)info;
    greg_t *regs = ((ucontext_t *)raw)->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)regs[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) {   /* a real fault: die of it as without this handler */
        signal(sig, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)regs[REG_RAX], sub = (unsigned)regs[REG_RCX], a, b, c, d;
    cpuid_faulting(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    cpuid_faulting(0);
    if (leaf == 7 && sub == 0) {
        b &= ~HIDDEN_7_0_EBX;
        c &= ~HIDDEN_7_0_ECX;
        d &= ~HIDDEN_7_0_EDX;
    } else if (leaf == 7 && sub == 1) {
        a &= ~HIDDEN_7_1_EAX;
    }
    regs[REG_RAX] = a;
    regs[REG_RBX] = b;
    regs[REG_RCX] = c;
    regs[REG_RDX] = d;
    regs[REG_RIP] += 2;
    __atomic_add_fetch(&backdrop_cpuid_answered, 1, __ATOMIC_RELAXED);
}

/* CPUID as this process sees it, for the check in bench/no_avx512.py. */
void backdrop_cpuid(unsigned leaf, unsigned sub, unsigned out[4]) {
    __cpuid_count(leaf, sub, out[0], out[1], out[2], out[3]);
}

__attribute__((constructor)) static void hide_avx512(void) {
    const char *wanted = getenv("BACKDROP_HIDE_AVX512");
    if (wanted == NULL || strcmp(wanted, "1") != 0)
        return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = answer_cpuid;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    if (sigaction(SIGSEGV, &action, NULL) == 0 && cpuid_faulting(0) == 0)
        backdrop_avx512_hidden = 1;
}
