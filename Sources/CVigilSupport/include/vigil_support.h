// Small libc knobs Swift cannot reach through its Glibc module.
#ifndef VIGIL_SUPPORT_H
#define VIGIL_SUPPORT_H

/// Keeps allocations up to `bytes` on the malloc heap instead of fresh mmap'ed pages, and
/// the heap from being trimmed below `trim` bytes. For long-running processes that allocate
/// and free many blocks of a few hundred kilobytes (consumer batches): with glibc's defaults
/// each would map and unmap pages, paying page faults every time. No-op off glibc.
void vigil_keep_large_blocks_on_heap(int bytes, int trim);

#endif
