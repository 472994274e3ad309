// Resource limits of any process (prlimit(2)), read from outside it.
#pragma once

#include "kern-ext/result.h"

#include <sys/resource.h>
#include <sys/types.h>

namespace ssi {

// prlimit(pid, resource, NULL, &old): needs the rights of ptrace on pid (or being it).
Result<rlimit> get_resource_limit(pid_t pid, int resource);

}  // namespace ssi
