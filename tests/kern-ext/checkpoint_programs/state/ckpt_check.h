/* The protocol of the state programs (tests/kern-ext/checkpoint_state.test.cpp): set up
 * one kind of state, print "ready", block in read() on stdin (where the checkpoint finds
 * them), and when a line arrives check the state and print "ok ITEM" (exit 0) or
 * "FAIL ITEM: details" (exit 1). Lines starting "info " may come before, for the test
 * to read. Output is unbuffered (dprintf): no stdio buffer to lose or repeat. */
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char* ckpt_item = "?";

static inline void ready(const char* item) {
    ckpt_item = item;
    dprintf(1, "ready\n");
}

/* Blocks in read() until a whole line has come (the checkpoint happens in here). */
static inline void wait_line(void) {
    char c;
    for (;;) {
        ssize_t n = read(0, &c, 1);
        if (n == 1 && c == '\n') return;
        if (n == 0) { dprintf(1, "FAIL %s: stdin closed\n", ckpt_item); exit(1); }
    }
}

__attribute__((format(printf, 1, 2))) static inline void fail(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(1, "FAIL %s: %s\n", ckpt_item, buf);
    exit(1);
}

static inline int pass(void) {
    dprintf(1, "ok %s\n", ckpt_item);
    return 0;
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)
