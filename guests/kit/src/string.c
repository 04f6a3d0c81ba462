/* Byte and string routines. Built with -fno-tree-loop-distribute-patterns
 * so the compiler does not turn these loops back into calls to themselves. */
#include <kit/lib.h>

/* Word-sized accesses: x86 allows them unaligned, and each guest memory
 * access is expensive under an instruction emulator. */
typedef uintptr_t __attribute__((may_alias, aligned(1))) unaligned_word;

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    for (; n >= sizeof(uintptr_t); n -= sizeof(uintptr_t)) {
        *(unaligned_word *)d = *(const unaligned_word *)s;
        d += sizeof(uintptr_t);
        s += sizeof(uintptr_t);
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    uintptr_t word = (uint8_t)c * (UINTPTR_MAX / 0xff);

    for (; n >= sizeof(uintptr_t); n -= sizeof(uintptr_t)) {
        *(unaligned_word *)d = word;
        d += sizeof(uintptr_t);
    }
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;

    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            break;
    }
    return 0;
}

const char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);

    for (; *haystack; haystack++)
        if (strncmp(haystack, needle, n) == 0)
            return haystack;
    return n == 0 ? haystack : NULL;
}

void sort_u64(uint64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}
