#include "vigil_support.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void vigil_keep_large_blocks_on_heap(int bytes, int trim) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, bytes);
    mallopt(M_TRIM_THRESHOLD, trim);
#else
    (void)bytes;
    (void)trim;
#endif
}
