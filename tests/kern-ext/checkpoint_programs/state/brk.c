/* brk survives: after restore sbrk() grows the heap from where it was, and the new
 * memory is usable. */
#include "ckpt_check.h"
#include <stdint.h>
#include <string.h>

int main(void) {
    ready("brk");  /* first: its output may set up malloc, which moves the break */
    char* end_before = sbrk(0);
    CHECK(sbrk(12345) == end_before, "sbrk failed before the checkpoint");
    end_before = sbrk(0);
    wait_line();
    char* end = sbrk(0);
    CHECK(end == end_before, "program break %p, was %p", (void*)end, (void*)end_before);
    char* grown = sbrk(256 * 1024);
    CHECK(grown == end_before, "sbrk grew from %p, expected %p", (void*)grown, (void*)end_before);
    memset(grown, 0x5a, 256 * 1024);
    CHECK(sbrk(0) == end_before + 256 * 1024, "program break did not move");
    return pass();
}
