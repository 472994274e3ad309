#include "libssi/gpid.h"

#include <catch2/catch.hpp>

using namespace ssi;

namespace {

Gpid parsed(std::string_view text) {
    auto r = Gpid::parse(text);
    INFO(text);
    REQUIRE(r.ok());
    return *r;
}

// Requires `text` to be refused with a message that names it.
void refused(std::string_view text) {
    INFO("'" << text << "'");
    auto r = Gpid::parse(text);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains(std::string(text) + ": not a gpid"));
}

}  // namespace

TEST_CASE("Gpid", "[gpid]") {
    SECTION("30004711 is pid 4711 of node 3, both ways") {
        CHECK(parsed("30004711") == Gpid{3, 4711});
        CHECK(parsed("3:4711") == Gpid{3, 4711});
        CHECK(Gpid{3, 4711}.value() == 30'004'711);
        CHECK(Gpid::from_value(30'004'711) == Gpid{3, 4711});
        CHECK(Gpid{3, 4711}.str() == "30004711");
    }

    SECTION("the edges of the valid range") {
        CHECK(parsed("1:1") == Gpid{1, 1});
        CHECK(parsed("10000001") == Gpid{1, 1});
        CHECK(parsed("9999:9999999") == Gpid{9999, 9'999'999});
        CHECK(parsed("99999999999") == Gpid{9999, 9'999'999});
        CHECK(Gpid{9999, 9'999'999}.value() == 99'999'999'999);  // needs 64 bits
        CHECK(Gpid::from_value(99'999'999'999) == Gpid{9999, 9'999'999});
        CHECK(Gpid{9999, 9'999'999}.str() == "99999999999");
        CHECK(parsed("0003:0004711") == Gpid{3, 4711});  // leading zeros are just digits
    }

    SECTION("values round-trip through text") {
        for (Gpid g : {Gpid{1, 1}, Gpid{2, 300}, Gpid{17, 1'234'567}, Gpid{9999, 9'999'999}}) {
            CHECK(parsed(g.str()) == g);
            CHECK(parsed(std::to_string(g.node) + ":" + std::to_string(g.pid)) == g);
            CHECK(Gpid::from_value(g.value()) == g);
        }
    }

    SECTION("out-of-range nodes and pids are refused") {
        refused("0:4711");          // node 0
        refused("4711");            // node 0 in number form
        refused("10000:1");         // node 10000
        refused("100000000001");    // node 10000 in number form
        refused("3:0");             // pid 0
        refused("30000000");        // pid 0 in number form
        refused("3:10000000");      // pid = 10,000,000
        refused("3:99999999");
        refused("0");
        CHECK_THAT(Gpid::parse("0:5").error().message(), Catch::Contains("node must be 1..9999"));
        // A bare PID is not taken for this node's: in a remote program it means home's.
        CHECK_THAT(Gpid::parse("4711").error().message(), Catch::Contains("a PID alone names no node: write NODE:PID"));
        CHECK_THAT(Gpid::parse("3:10000000").error().message(), Catch::Contains("pid must be 1..9999999"));
    }

    SECTION("negative numbers are refused") {
        refused("-30004711");
        refused("-3:4711");
        refused("3:-4711");
        refused("-1");
    }

    SECTION("malformed text is refused") {
        refused("");
        refused("3:");
        refused(":5");
        refused(":");
        refused("abc");
        refused("3:abc");
        refused("3:4711:1");
        refused("3:47 11");
        refused(" 30004711");
        refused("30004711 ");
        refused("+30004711");
        refused("0x1C9C5E7");
        refused("3.5:1");
    }

    SECTION("numbers too big for 64 bits are refused, not wrapped") {
        refused("99999999999999999999");          // > INT64_MAX
        refused("3:99999999999999999999");
        refused("18446744073709551616:1");
        refused("9223372036854775807");           // fits, but node is far too big
    }
}
