#include "libssi/fault_points.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>

namespace ssi {

bool take_fault_point(const std::string& run_dir, const char* point) {
    if (run_dir.empty()) return false;
    const std::string file = run_dir + "/inject-fault";
    auto wanted = read_file(file);
    if (!wanted || wanted->substr(0, wanted->find('\n')) != point) return false;
    (void)unlink_at(AT_FDCWD, file, 0);
    return true;
}

}  // namespace ssi
