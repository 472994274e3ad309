/* Memory: anonymous (one page read-only, one PROT_NONE), heap, stack and a modified
 * private file mapping come back at the same addresses, with the same contents and
 * protections (as /proc/self/maps shows them: each range is still mapped, with the same
 * permissions, maybe merged with a neighbour, since a file mapping comes back as an
 * anonymous copy). usage: memory FILE (a file of >= 2 pages; only read). */
#include "ckpt_check.h"
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096
#define HEAP (64 * 1024) /* below the mmap threshold: from brk, in [heap] */

static uint64_t sum(const void* p, size_t n) {
    const unsigned char* b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

struct range { unsigned long lo, hi; char perms[8]; };

/* The mapping (address range and permissions) holding addr. */
static struct range mapping_at(const void* addr) {
    struct range r = {0, 0, "none"};
    FILE* f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        struct range m;
        if (sscanf(line, "%lx-%lx %7s", &m.lo, &m.hi, m.perms) == 3 && (uintptr_t)addr >= m.lo && (uintptr_t)addr < m.hi) {
            r = m;
            break;
        }
    }
    if (f) fclose(f);
    return r;
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) return 2;
    char* file = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char* anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char* heap = malloc(HEAP);
    volatile char stack[3 * PAGE];
    if (file == MAP_FAILED || anon == MAP_FAILED || !heap) return 2;
    close(fd);
    memset(file + PAGE, 'f', 100);  /* one modified page, one clean */
    for (int i = 0; i < 4 * PAGE; ++i) anon[i] = (char)(i * 7);
    for (int i = 0; i < (HEAP); ++i) heap[i] = (char)(i * 13);
    for (int i = 0; i < 3 * PAGE; ++i) stack[i] = (char)(i * 3);
    mprotect(anon + PAGE, PAGE, PROT_READ);
    mprotect(anon + 2 * PAGE, PAGE, PROT_NONE);

    const void* where[] = {file, file + PAGE, anon, anon + PAGE, anon + 2 * PAGE, anon + 3 * PAGE, heap, (void*)stack};
    enum { N = sizeof where / sizeof *where };
    struct range maps[N];
    for (int i = 0; i < N; ++i) maps[i] = mapping_at(where[i]);
    uint64_t file_sum = sum(file, 2 * PAGE), anon_sum = sum(anon, 2 * PAGE) ^ sum(anon + 3 * PAGE, PAGE),
             heap_sum = sum(heap, HEAP), stack_sum = sum((const void*)stack, sizeof stack);

    ready("memory");
    wait_line();
    for (int i = 0; i < N; ++i) {
        struct range now = mapping_at(where[i]);
        CHECK(now.lo <= maps[i].lo && now.hi >= maps[i].hi && strcmp(now.perms, maps[i].perms) == 0,
              "mapping %d at %p: %lx-%lx %s, was %lx-%lx %s", i, where[i], now.lo, now.hi, now.perms, maps[i].lo,
              maps[i].hi, maps[i].perms);
    }
    CHECK(sum(file, 2 * PAGE) == file_sum, "file mapping contents differ");
    CHECK((sum(anon, 2 * PAGE) ^ sum(anon + 3 * PAGE, PAGE)) == anon_sum, "anonymous mapping contents differ");
    CHECK(sum(heap, HEAP) == heap_sum, "heap contents differ");
    CHECK(sum((const void*)stack, sizeof stack) == stack_sum, "stack contents differ");
    return pass();
}
