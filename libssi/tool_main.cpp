#include "libssi/tool_main.h"

#include <cstdio>
#include <exception>

namespace ssi {

int run_tool(const char* name, int argc, char** argv, const std::function<Result<int>(int, char**)>& body) {
    try {
        Result<int> r = body(argc, argv);
        if (r) return *r;
        std::fprintf(stderr, "%s: %s\n", name, r.error().message().c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 1;
    }
}

}  // namespace ssi
