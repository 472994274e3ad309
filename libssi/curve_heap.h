// CURVE handshakes without libsodium's guarded heap.
//
// libzmq keeps a CURVE link's short-term keys in libsodium's "secure" memory: every
// sodium_allocarray is an mmap with guard pages, mprotect and mlock, and every
// sodium_free undoes them — about 130 memory-map calls per handshake, each a TLB
// shoot-down across the cores of a multithreaded process. Here that made a link's connect
// and first round trip cost 2.1-2.4 ms against 0.8 ms without it, and a remote run makes
// two or three links while it starts. Every program of ours links libzmq and libsodium
// statically (libssi/zmq_link/CMakeLists.txt), and the linker's --wrap sends the calls to
// sodium_allocarray, sodium_malloc and sodium_free to libssi/zmq_link/curve_heap.cpp:
// plain heap memory, wiped with sodium_memzero when freed. What that gives up — guard
// pages and mlock around libzmq's copies — protects little here: the long-term and
// session secret keys those are derived from live in this process's ordinary memory
// anyway (SessionKeys, the node's key file read into a string). libzmq uses no other part
// of libsodium's guarded memory (no sodium_mprotect_*), and neither do we.
#pragma once

namespace ssi {

// Blocks handed out so far (tests: libzmq's handshakes do come here).
unsigned long plain_curve_heap_blocks();

}  // namespace ssi
