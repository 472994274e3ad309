#include "libssi/keys.h"

#include "kern-ext/files.h"

#include <zmq.h>

#include <cerrno>
#include <fcntl.h>

namespace ssi {
namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

bool is_valid_z85_key(const std::string& key) {
    if (key.size() != 40) return false;
    uint8_t raw[32];
    return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

Result<KeyPair> generate_keypair() {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) return sys_error("zmq_curve_keypair");
    return KeyPair{pub, sec};
}

Result<std::string> public_key_of(const std::string& secret_key) {
    if (!is_valid_z85_key(secret_key)) return make_error("key", "not a 40-character Z85 key", EINVAL);
    char pub[41];
    if (zmq_curve_public(pub, secret_key.c_str()) != 0) return sys_error("zmq_curve_public");
    return std::string(pub);
}

Result<void> write_key_files(const KeyPair& keys, const std::string& dir, const std::string& name) {
    TRY(make_dirs(dir, 0755));
    TRY(write_file_atomic(dir + "/" + name + ".secret", keys.secret_key + "\n", 0600));
    TRY(write_file_atomic(dir + "/" + name + ".pub", keys.public_key + "\n", 0644));
    return ok();
}

Result<std::string> read_secret_key_file(const std::string& path) {
    struct stat st = TRY(stat_path(path));
    if (st.st_mode & 077)
        return make_error("secret key file", path + " is readable by group or others (chmod 600 it)", EPERM);
    std::string key = trim(TRY(read_file(path)));
    if (!is_valid_z85_key(key)) return make_error("secret key file", path + ": not a 40-character Z85 key", EINVAL);
    return key;
}

Result<std::string> read_public_key_file(const std::string& path) {
    std::string key = trim(TRY(read_file(path)));
    if (!is_valid_z85_key(key)) return make_error("public key file", path + ": not a 40-character Z85 key", EINVAL);
    return key;
}

}  // namespace ssi
