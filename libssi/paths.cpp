// Where tools look for things; kept apart from config.cpp so that tools which only need
// a path do not link the TOML parser and ZeroMQ.
#include "libssi/config.h"

#include <cstdlib>

namespace ssi {

std::string config_path_from_env() {
    const char* p = std::getenv("SSI_CONFIG");
    return p && *p ? p : kDefaultConfigPath;
}

std::string socket_path_from_env() {
    const char* p = std::getenv("SSI_SOCKET");
    return p && *p ? p : kDefaultSocketPath;
}

}  // namespace ssi
