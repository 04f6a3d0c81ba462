/* String, memory and formatting helpers of the freestanding kit. */
#ifndef KIT_LIB_H
#define KIT_LIB_H

#include <kit/types.h>

/* The compiler may emit calls to these four; they must exist. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
const char *strstr(const char *haystack, const char *needle);

/* Sorts a small array in place (insertion sort: benchmark sample sets). */
void sort_u64(uint64_t *v, size_t n);

/*
 * printf subset: flags "-0#", width and precision (digits or '*'),
 * length modifiers hh h l ll z, conversions d i u x X p s c %.
 * Always NUL-terminates when size > 0; returns the untruncated length.
 */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

#endif /* KIT_LIB_H */
