/* Registers survive a blocking read(): ymm0-15, r12-r15 and a non-default MXCSR are
 * loaded, read(0) is made by a raw syscall in the same asm block (so nothing can spill
 * or reuse them), and then stored and compared. Needs AVX (x86-64-v3 machines). */
#include "ckpt_check.h"
#include <stdint.h>
#include <string.h>

int main(void) {
    __builtin_cpu_init();
    CHECK(__builtin_cpu_supports("avx"), "no AVX on this CPU");
    static uint8_t in[16][32] __attribute__((aligned(32))), out[16][32] __attribute__((aligned(32)));
    for (int r = 0; r < 16; ++r)
        for (int b = 0; b < 32; ++b) in[r][b] = (uint8_t)(r * 37 + b * 11 + 1);
    uint64_t gp_in[4] = {0x1122334455667788ull, 0x99aabbccddeeff00ull, 0x0badc0ffee0ddf00ull, 0xfeedfacecafebeefull};
    uint64_t gp_out[4];
    uint32_t mxcsr_in = 0x1f80 | (3u << 13) /* round toward zero */, mxcsr_out = 0;
    char buf[64];
    long n;
    ready("registers");
    __asm__ volatile(
        "ldmxcsr %[mxin]\n"
        "mov 0(%[gin]), %%r12\n mov 8(%[gin]), %%r13\n mov 16(%[gin]), %%r14\n mov 24(%[gin]), %%r15\n"
        "vmovdqa 0(%[in]), %%ymm0\n vmovdqa 32(%[in]), %%ymm1\n vmovdqa 64(%[in]), %%ymm2\n vmovdqa 96(%[in]), %%ymm3\n"
        "vmovdqa 128(%[in]), %%ymm4\n vmovdqa 160(%[in]), %%ymm5\n vmovdqa 192(%[in]), %%ymm6\n vmovdqa 224(%[in]), %%ymm7\n"
        "vmovdqa 256(%[in]), %%ymm8\n vmovdqa 288(%[in]), %%ymm9\n vmovdqa 320(%[in]), %%ymm10\n vmovdqa 352(%[in]), %%ymm11\n"
        "vmovdqa 384(%[in]), %%ymm12\n vmovdqa 416(%[in]), %%ymm13\n vmovdqa 448(%[in]), %%ymm14\n vmovdqa 480(%[in]), %%ymm15\n"
        "mov $0, %%eax\n mov $0, %%edi\n mov %[buf], %%rsi\n mov $64, %%edx\n syscall\n mov %%rax, %[n]\n"
        "vmovdqa %%ymm0, 0(%[out])\n vmovdqa %%ymm1, 32(%[out])\n vmovdqa %%ymm2, 64(%[out])\n vmovdqa %%ymm3, 96(%[out])\n"
        "vmovdqa %%ymm4, 128(%[out])\n vmovdqa %%ymm5, 160(%[out])\n vmovdqa %%ymm6, 192(%[out])\n vmovdqa %%ymm7, 224(%[out])\n"
        "vmovdqa %%ymm8, 256(%[out])\n vmovdqa %%ymm9, 288(%[out])\n vmovdqa %%ymm10, 320(%[out])\n vmovdqa %%ymm11, 352(%[out])\n"
        "vmovdqa %%ymm12, 384(%[out])\n vmovdqa %%ymm13, 416(%[out])\n vmovdqa %%ymm14, 448(%[out])\n vmovdqa %%ymm15, 480(%[out])\n"
        "mov %%r12, 0(%[gout])\n mov %%r13, 8(%[gout])\n mov %%r14, 16(%[gout])\n mov %%r15, 24(%[gout])\n"
        "stmxcsr %[mxout]\n ldmxcsr %[mxdef]\n vzeroupper\n"
        : [n] "=m"(n), [mxout] "=m"(mxcsr_out)
        : [in] "r"(in), [out] "r"(out), [gin] "r"(gp_in), [gout] "r"(gp_out), [buf] "r"(buf), [mxin] "m"(mxcsr_in),
          [mxdef] "m"((uint32_t){0x1f80})
        : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "r12", "r13", "r14", "r15", "memory", "xmm0", "xmm1", "xmm2", "xmm3",
          "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    CHECK(n > 0, "read returned %ld", n);
    for (int r = 0; r < 16; ++r) CHECK(memcmp(in[r], out[r], 32) == 0, "ymm%d differs", r);
    CHECK(memcmp(gp_in, gp_out, sizeof gp_in) == 0, "r12-r15 differ");
    CHECK(mxcsr_out == mxcsr_in, "mxcsr %#x, expected %#x", mxcsr_out, mxcsr_in);
    return pass();
}
