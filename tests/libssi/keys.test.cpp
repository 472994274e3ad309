#include "libssi/keys.h"

#include "kern-ext/files.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

using namespace ssi;

namespace {

mode_t mode_of(const std::string& path) {
    auto st = stat_path(path);
    REQUIRE(st.ok());
    return st->st_mode & 07777;
}

}  // namespace

TEST_CASE("keys", "[keys]") {
    auto generated = generate_keypair();
    REQUIRE(generated.ok());
    const KeyPair keys = *generated;
    test::TempDir tmp("keys-test");

    SECTION("generated keys are valid, distinct Z85 keys") {
        CHECK(is_valid_z85_key(keys.public_key));
        CHECK(is_valid_z85_key(keys.secret_key));
        CHECK(keys.public_key != keys.secret_key);
        auto other = generate_keypair();
        REQUIRE(other.ok());
        CHECK(other->public_key != keys.public_key);
        CHECK(other->secret_key != keys.secret_key);
    }

    SECTION("public_key_of(secret) is the public key") {
        auto pub = public_key_of(keys.secret_key);
        REQUIRE(pub.ok());
        CHECK(*pub == keys.public_key);
        CHECK_FALSE(public_key_of("not a key").ok());
        CHECK_FALSE(public_key_of(keys.secret_key.substr(1)).ok());
    }

    SECTION("is_valid_z85_key") {
        CHECK_FALSE(is_valid_z85_key(""));
        CHECK_FALSE(is_valid_z85_key(keys.public_key.substr(0, 39)));
        CHECK_FALSE(is_valid_z85_key(keys.public_key + "a"));
        CHECK_FALSE(is_valid_z85_key(std::string(40, '~')));  // not in the Z85 alphabet
        CHECK_FALSE(is_valid_z85_key(std::string(40, ' ')));
        CHECK(is_valid_z85_key(std::string(40, '0')));
    }

    SECTION("written key files read back; the secret is 0600") {
        std::string dir = tmp / "etc/ssi";  // created on the way
        REQUIRE(write_key_files(keys, dir, "node1").ok());
        CHECK(mode_of(dir + "/node1.secret") == 0600);
        auto secret = read_secret_key_file(dir + "/node1.secret");
        REQUIRE(secret.ok());
        CHECK(*secret == keys.secret_key);
        auto pub = read_public_key_file(dir + "/node1.pub");
        REQUIRE(pub.ok());
        CHECK(*pub == keys.public_key);
        // Written again (a new pair over an old one), the files are replaced.
        auto second = generate_keypair();
        REQUIRE(second.ok());
        REQUIRE(write_key_files(*second, dir, "node1").ok());
        CHECK(*read_secret_key_file(dir + "/node1.secret") == second->secret_key);
        CHECK(mode_of(dir + "/node1.secret") == 0600);
    }

    SECTION("a secret key file others could read is refused, saying so") {
        REQUIRE(write_key_files(keys, tmp.path(), "node1").ok());
        std::string path = tmp / "node1.secret";
        for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
            INFO("mode " << std::oct << mode);
            REQUIRE(::chmod(path.c_str(), mode) == 0);
            auto r = read_secret_key_file(path);
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().err == EPERM);
            CHECK_THAT(r.error().message(), Catch::Contains(path) && Catch::Contains("readable by group or others") &&
                                                Catch::Contains("chmod 600"));
        }
        REQUIRE(::chmod(path.c_str(), 0400) == 0);  // owner-only, read-only: fine
        CHECK(read_secret_key_file(path).ok());
        REQUIRE(::chmod(path.c_str(), 0600) == 0);
        CHECK(read_secret_key_file(path).ok());
    }

    SECTION("key files that do not hold a key are refused") {
        std::string bad = tmp / "bad.secret";
        REQUIRE(write_file_atomic(bad, "hello\n", 0600).ok());
        auto r = read_secret_key_file(bad);
        REQUIRE_FALSE(r.ok());
        CHECK_THAT(r.error().message(), Catch::Contains("not a 40-character Z85 key"));
        REQUIRE(write_file_atomic(tmp / "bad.pub", keys.public_key.substr(0, 30) + "\n", 0644).ok());
        CHECK_FALSE(read_public_key_file(tmp / "bad.pub").ok());
        // Trailing whitespace a text editor leaves is fine.
        REQUIRE(write_file_atomic(tmp / "ok.pub", keys.public_key + " \r\n", 0644).ok());
        auto ok_pub = read_public_key_file(tmp / "ok.pub");
        REQUIRE(ok_pub.ok());
        CHECK(*ok_pub == keys.public_key);
        auto missing = read_secret_key_file(tmp / "none.secret");
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.error().err == ENOENT);
    }
}
