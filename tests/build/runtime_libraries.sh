#!/usr/bin/env bash
# The shared libraries each program of ours loads at start (CMakeLists.txt, top, and
# libssi/zmq_link/CMakeLists.txt): ZeroMQ, libsodium, libgcrypt and Kerberos in none — they are
# linked in — and no shared C++ runtime in the programs that carry their own, where a
# second copy of it (brought by a shared C++ library linked in later) would not be safe.
#   tests/build/runtime_libraries.sh BIN_DIR
set -u
bin=${1:?usage: runtime_libraries.sh BIN_DIR}
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

# The agent links spdlog and fmt, shared C++ libraries: it uses the shared runtime.
shared_runtime=" ssi-agent "
checked=0
for program in "$bin"/ssi-*; do
  name=$(basename "$program")
  [ "$name" = ssi-peer-probe ] && continue   # a test tool
  libraries=$(ldd "$program") || { fail "$name: ldd failed"; continue; }
  checked=$((checked + 1))
  linked_ins="libzmq libsodium libgssapi_krb5 libkrb5 libpgm libnorm"
  # The agent seals nothing (no sealed links): the libgcrypt it loads is libsystemd's,
  # which libproc2 brings.
  [ "$name" = ssi-agent ] || linked_ins+=" libgcrypt libgpg-error"
  for linked_in in $linked_ins; do
    grep -q "$linked_in\.so" <<<"$libraries" && fail "$name loads $linked_in.so (it should be linked in)"
  done
  if [[ $shared_runtime != *" $name "* ]]; then
    for runtime in libstdc++ libgcc_s; do
      grep -q "$runtime\.so" <<<"$libraries" && fail "$name loads $runtime.so next to the runtime it carries"
    done
  fi
  # Each starts: --help, or for ssi-remote (started by the agent) an empty spec on stdin.
  "$program" --help </dev/null >/dev/null 2>&1 || fail "$name --help failed"
done
[ "$checked" -ge 10 ] || fail "only $checked programs found in $bin"
[ "$failed" = 0 ] && echo "ok: $checked programs"
exit "$failed"
