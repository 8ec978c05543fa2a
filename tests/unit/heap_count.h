/* SPDX-License-Identifier: MIT
 *
 * Counting heap calls, for the suites linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (tests/meson.build):
 * heap_calls counts this thread's malloc, calloc and realloc calls made by
 * vigil's own code (its static libraries); calls inside shared libraries
 * (libc, ldns, OpenSSL) are not counted.  Included once per test program.
 */
#ifndef VG_TEST_HEAP_COUNT_H
#define VG_TEST_HEAP_COUNT_H

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
/* per thread: another thread (the decision log's writer) does not count */
static __thread unsigned long heap_calls;
void *__wrap_malloc(size_t n)
{
	heap_calls++;
	return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	heap_calls++;
	return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	heap_calls++;
	return __real_realloc(p, n);
}

#endif
