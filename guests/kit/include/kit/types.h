/* Basic types and compiler helpers for the freestanding test guests. */
#ifndef KIT_TYPES_H
#define KIT_TYPES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1UL << PAGE_SHIFT)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define IS_ALIGNED(x, a) (((x) & ((a) - 1)) == 0)

#define __noreturn     __attribute__((noreturn))
#define __printf(f, a) __attribute__((format(printf, f, a)))
#define __page_aligned __attribute__((aligned(4096)))
#define __weak         __attribute__((weak))
#define __used         __attribute__((used))

#define barrier() __asm__ __volatile__("" ::: "memory")

/* Single-copy access to memory shared with the hypervisor or a backend. */
#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif /* KIT_TYPES_H */
