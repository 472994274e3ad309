// ssi-keygen: makes a node's CURVE key pair.
//   ssi-keygen -o DIR [-n NAME]    writes DIR/NAME.secret (0600) and DIR/NAME.pub, prints the public key
//   ssi-keygen --public FILE       prints the public key of a secret key file
#include "libssi/keys.h"
#include "libssi/tool_main.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

ssi::Result<int> run(int argc, char** argv) {
    CLI::App app{"ssi-keygen: make a node's CURVE key pair"};
    std::string dir, name = "node", public_of;
    app.add_option("-o,--output", dir, "directory for NAME.secret and NAME.pub");
    app.add_option("-n,--name", name, "file name stem")->capture_default_str();
    app.add_option("--public", public_of, "print the public key of this secret key file");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!public_of.empty()) {
        std::string secret = TRY(ssi::read_secret_key_file(public_of));
        std::printf("%s\n", TRY(ssi::public_key_of(secret)).c_str());
        return 0;
    }
    ssi::KeyPair keys = TRY(ssi::generate_keypair());
    if (dir.empty()) {
        std::fprintf(stderr, "ssi-keygen: -o DIR is required (the secret key is never printed)\n");
        return 2;
    }
    TRY(ssi::write_key_files(keys, dir, name));
    std::printf("%s\n", keys.public_key.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return ssi::run_tool("ssi-keygen", argc, argv, run); }
