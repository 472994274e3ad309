// The last steps before exec, in the child that becomes a program: its stdio, which of the
// parent's descriptors it keeps, its signal state, limits, umask, and the exec itself
// with a PATH search in the program's environment (not the launcher's).
#pragma once

#include "kern-ext/result.h"

#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ssi {

// Makes `in`, `out`, `err` descriptors 0, 1 and 2 (inheritable), whatever numbers they
// have now, even 0..2 in another order; -1 opens /dev/null there (read-only on 0, write-only
// on 1 and 2, as a shell's redirections do).
Result<void> install_stdio(int in, int out, int err);
// close_range(2): closes every descriptor but `keep`.
Result<void> close_fds_except(std::vector<int> keep);
// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): nothing from `first` up survives exec.
Result<void> close_on_exec_from(int first);
// /dev/null on each of descriptors 0..2 that is closed (read-only on 0, write-only on 1
// and 2), so that no descriptor opened later takes a stdio number by chance.
Result<void> fill_closed_stdio();
// fcntl(F_DUPFD_CLOEXEC) to a number >= 3 when fd is 0..2, so stdio can be installed
// without clobbering it.
Result<int> move_above_stdio(int fd);

// Every signal back to its default action (ignored ones too: exec keeps SIG_IGN, and the
// launcher's choices are not the program's); the mask as it is.
Result<void> reset_signal_handlers();
// The same, and every signal unblocked.
Result<void> reset_signals();
Result<void> set_resource_limit(int resource, const rlimit& limit);
mode_t set_umask(mode_t mask);

// execve(2) of `program` with `argv` and `env` ("NAME=value"). Without a '/', `program`
// is searched in env's PATH (default "/bin:/usr/bin") as execvp does: EACCES from one
// directory does not stop the search but is what is reported if nothing else is found.
// A file the kernel cannot execute (ENOEXEC) is run by /bin/sh, as a shell would.
// Returns only on failure: call "execve", errno, context the path (or name).
Error exec_program(const std::string& program, const std::vector<std::string>& argv,
                   const std::vector<std::string>& env);

}  // namespace ssi
