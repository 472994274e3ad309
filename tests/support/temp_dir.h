// A fresh directory under /tmp for one test, removed with everything in it when the test
// ends, passed or failed (a failed REQUIRE unwinds through the destructor).
#pragma once

#include "kern-ext/files.h"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <string>
#include <string_view>

namespace ssi::test {

class TempDir {
public:
    // /tmp/ssi-TAG-XXXXXX
    explicit TempDir(std::string_view tag) {
        std::string tmpl = "/tmp/ssi-" + std::string(tag) + "-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { (void)remove_tree(path_); }

    const std::string& path() const { return path_; }
    // A path inside it.
    std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

}  // namespace ssi::test
