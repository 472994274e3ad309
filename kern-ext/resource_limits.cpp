#include "kern-ext/resource_limits.h"

#include <string>

namespace ssi {

Result<rlimit> get_resource_limit(pid_t pid, int resource) {
    rlimit old{};
    if (::prlimit(pid, static_cast<__rlimit_resource>(resource), nullptr, &old) < 0)
        return sys_error("prlimit", "pid " + std::to_string(pid) + " resource " + std::to_string(resource));
    return old;
}

}  // namespace ssi
