// Fault injection for the tests (tests/integration/migrate_faults.sh): a test names one
// point in <run dir>/inject-fault, and the code that reaches that point first takes it
// (the file is removed: one shot) and dies there, as a crash would.
#pragma once

#include <string>

namespace ssi {

// Whether <run_dir>/inject-fault names `point`; if so, the file is gone when this returns.
bool take_fault_point(const std::string& run_dir, const char* point);

}  // namespace ssi
