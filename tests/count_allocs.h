/* count_allocs.h: lets a test binary prove that a run allocated nothing.
 *
 * Include it once, in the test's only source file: it interposes malloc and
 * friends (not under ASan, which owns them) and counts every call in
 * n_allocs.  Where it is defined, COUNT_ALLOCS is 1, so a test reads
 *	long before = n_allocs; ...run...; assert n_allocs == before.
 * Calls made while allocs_uncounted is non-zero are not counted, for a
 * library call whose own bookkeeping no API avoids. */
#ifndef SUPCON_TESTS_COUNT_ALLOCS_H
#define SUPCON_TESTS_COUNT_ALLOCS_H

#include <stddef.h>

#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static long n_allocs;
static int allocs_uncounted;
#define COUNT_ALLOC() (n_allocs += !allocs_uncounted)
void *malloc(size_t n) { COUNT_ALLOC(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { COUNT_ALLOC(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { COUNT_ALLOC(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { COUNT_ALLOC(); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
	COUNT_ALLOC();
	*p = __libc_memalign(a, n);
	return *p ? 0 : 12;
}
#endif

#endif
