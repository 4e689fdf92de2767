// Small libc knobs Swift cannot reach through its Glibc module.
#ifndef VIGIL_SUPPORT_H
#define VIGIL_SUPPORT_H

/// Keeps allocations up to `bytes` on the malloc heap instead of fresh mmap'ed pages, and
/// the heap from being trimmed below `trim` bytes. For long-running processes that allocate
/// and free many blocks of a few hundred kilobytes (consumer batches): with glibc's defaults
/// each would map and unmap pages, paying page faults every time. No-op off glibc.
void vigil_keep_large_blocks_on_heap(int bytes, int trim);

/// Asks the CPU to start loading the cache line at `address` (a hint: no fault, no effect on
/// results). Swift has no prefetch of its own; the detection engine uses it to request the
/// state an event needs from every map at once instead of missing the cache map by map.
static inline void vigil_prefetch(const void *address) { __builtin_prefetch(address, 1, 3); }

#endif
