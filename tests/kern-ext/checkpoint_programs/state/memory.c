/* Memory: anonymous (one page read-only, one PROT_NONE), heap, stack and a modified
 * private file mapping come back at the same addresses, with the same contents and
 * protections (as /proc/self/maps shows them). usage: memory FILE (a file of >= 2 pages,
 * which the program overwrites). */
#include "ckpt_check.h"
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096

static uint64_t sum(const void* p, size_t n) {
    const unsigned char* b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* The maps line (address range and permissions) holding addr. */
static void maps_line(const void* addr, char* out, size_t len) {
    FILE* f = fopen("/proc/self/maps", "r");
    char line[512];
    out[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            snprintf(out, len, "%lx-%lx %s", lo, hi, perms);
            break;
        }
    }
    if (f) fclose(f);
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) return 2;
    char* file = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char* anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char* heap = malloc(1 << 20);
    volatile char stack[3 * PAGE];
    if (file == MAP_FAILED || anon == MAP_FAILED || !heap) return 2;
    close(fd);
    memset(file + PAGE, 'f', 100);  /* one modified page, one clean */
    for (int i = 0; i < 4 * PAGE; ++i) anon[i] = (char)(i * 7);
    for (int i = 0; i < (1 << 20); ++i) heap[i] = (char)(i * 13);
    for (int i = 0; i < 3 * PAGE; ++i) stack[i] = (char)(i * 3);
    mprotect(anon + PAGE, PAGE, PROT_READ);
    mprotect(anon + 2 * PAGE, PAGE, PROT_NONE);

    const void* where[] = {file, file + PAGE, anon, anon + PAGE, anon + 2 * PAGE, anon + 3 * PAGE, heap, (void*)stack};
    enum { N = sizeof where / sizeof *where };
    char maps[N][64];
    for (int i = 0; i < N; ++i) maps_line(where[i], maps[i], sizeof maps[i]);
    uint64_t file_sum = sum(file, 2 * PAGE), anon_sum = sum(anon, 2 * PAGE) ^ sum(anon + 3 * PAGE, PAGE),
             heap_sum = sum(heap, 1 << 20), stack_sum = sum((const void*)stack, sizeof stack);

    ready("memory");
    wait_line();
    for (int i = 0; i < N; ++i) {
        char now[64];
        maps_line(where[i], now, sizeof now);
        CHECK(strcmp(now, maps[i]) == 0, "mapping %d at %p: '%s', was '%s'", i, where[i], now, maps[i]);
    }
    CHECK(sum(file, 2 * PAGE) == file_sum, "file mapping contents differ");
    CHECK((sum(anon, 2 * PAGE) ^ sum(anon + 3 * PAGE, PAGE)) == anon_sum, "anonymous mapping contents differ");
    CHECK(sum(heap, 1 << 20) == heap_sum, "heap contents differ");
    CHECK(sum((const void*)stack, sizeof stack) == stack_sum, "stack contents differ");
    return pass();
}
