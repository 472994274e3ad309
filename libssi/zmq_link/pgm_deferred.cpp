// libzmq's start of OpenPGM, deferred to the first PGM endpoint.
//
// Debian's libzmq.a is built with OpenPGM, and every ZeroMQ context calls pgm_init() as it
// is made: an NSS lookup of the "pgm" protocol (46 failed opens of NSS files and modules
// in each ssi-run) and OpenPGM's timer and thread set-up — 0.8–1.2 ms in a program of its
// own on this VM, a few hundred µs in ssi-run, on every remote run's start.
// Nothing of ours opens a pgm:// or epgm:// endpoint (every socket we make is CURVE over
// TCP). Should one be opened anyway, OpenPGM is started by its first call that needs it
// (libzmq resolves the endpoint with pgm_getaddrinfo, then makes the socket), and
// libzmq's shutdown stops it only if it was started. CMakeLists.txt beside this file
// routes the calls here with the linker's --wrap.
#include <pgm/pgm.h>

#include <mutex>

extern "C" {
bool __real_pgm_init(pgm_error_t** error);
bool __real_pgm_shutdown(void);
bool __real_pgm_getaddrinfo(const char* network, const pgm_addrinfo_t* hints, pgm_addrinfo_t** result,
                            pgm_error_t** error);
bool __real_pgm_socket(pgm_sock_t** sock, sa_family_t family, int type, int protocol, pgm_error_t** error);
}

namespace {

std::mutex mu;
bool started = false;

bool start(pgm_error_t** error) {
    std::lock_guard lock(mu);
    if (!started) started = __real_pgm_init(error);
    return started;
}

}  // namespace

extern "C" {

bool __wrap_pgm_init(pgm_error_t**) { return true; }

bool __wrap_pgm_shutdown(void) {
    std::lock_guard lock(mu);
    if (!started) return true;
    started = false;
    return __real_pgm_shutdown();
}

bool __wrap_pgm_getaddrinfo(const char* network, const pgm_addrinfo_t* hints, pgm_addrinfo_t** result,
                            pgm_error_t** error) {
    return start(error) && __real_pgm_getaddrinfo(network, hints, result, error);
}

bool __wrap_pgm_socket(pgm_sock_t** sock, sa_family_t family, int type, int protocol, pgm_error_t** error) {
    return start(error) && __real_pgm_socket(sock, family, type, protocol, error);
}

}  // extern "C"
