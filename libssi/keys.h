// CURVE key pairs for node authentication. Keys are 40-character Z85 strings; a secret
// key file holds one line and must not be readable by group or others.
#pragma once

#include "kern-ext/result.h"

#include <string>

namespace ssi {

struct KeyPair {
    std::string public_key;  // Z85
    std::string secret_key;  // Z85
};

bool is_valid_z85_key(const std::string& key);
Result<KeyPair> generate_keypair();
Result<std::string> public_key_of(const std::string& secret_key);

// Writes DIR/NAME.secret (mode 0600) and DIR/NAME.pub.
Result<void> write_key_files(const KeyPair& keys, const std::string& dir, const std::string& name);
// Reads a secret key file; refuses one that group or others could read.
Result<std::string> read_secret_key_file(const std::string& path);
Result<std::string> read_public_key_file(const std::string& path);

}  // namespace ssi
