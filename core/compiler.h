/*
 * compiler.h -- small compiler helpers shared by core/.
 */
#ifndef TIMERD_COMPILER_H
#define TIMERD_COMPILER_H

#include <stddef.h>

/* Size of a cache line; fields written by different threads are padded apart. */
#define CACHELINE 64
#define cacheline_aligned __attribute__((aligned(CACHELINE)))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Stops the compiler, not the CPU, from moving memory accesses across it. */
#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

/* Spin-wait hint for the CPU. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* TIMERD_COMPILER_H */
