/* An LD_PRELOAD module that counts heap allocations: every call to malloc,
 * calloc, realloc, the aligned allocators (and so operator new, which calls
 * malloc) in the whole process. At exit it writes the count, in decimal, to
 * the file named by COUNT_ALLOCATIONS_OUT. The integration test for the hit
 * path runs relay under it twice, serving a different number of hits, and
 * divides the difference. glibc's own entry points do the allocating, so
 * nothing here allocates or recurses. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t n, size_t size);
extern void* __libc_realloc(void* block, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void* block);

static atomic_ulong allocations;

static void count(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

void* malloc(size_t size) {
  count();
  return __libc_malloc(size);
}

void* calloc(size_t n, size_t size) {
  count();
  return __libc_calloc(n, size);
}

void* realloc(void* block, size_t size) {
  count();
  return __libc_realloc(block, size);
}

void free(void* block) { __libc_free(block); }

void* memalign(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
  count();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return 22; /* EINVAL */
  count();
  void* block = __libc_memalign(alignment, size);
  if (!block) return 12; /* ENOMEM */
  *out = block;
  return 0;
}

__attribute__((destructor)) static void report(void) {
  const char* path = getenv("COUNT_ALLOCATIONS_OUT");
  if (!path) return;
  const unsigned long n = atomic_load(&allocations);
  FILE* out = fopen(path, "w");
  if (!out) return;
  fprintf(out, "%lu\n", n);
  fclose(out);
}
