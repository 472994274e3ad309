// What /proc says about another process's files: its descriptors' flags, its working
// directory and its root — for a supervisor that resolves a name as its program would.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <string>

namespace ssi {

// Whether descriptor `fd` of thread `tid` is close-on-exec (the "flags:" of its fdinfo;
// a copy by pidfd_getfd cannot tell, the flag being the descriptor's, not the file's).
Result<bool> closes_on_exec(pid_t tid, int fd);
// The working directory of thread `tid`, as a path in its own mount namespace when we do
// not share it (readlink of /proc/TID/cwd).
Result<std::string> working_directory_of(pid_t tid);
// Thread `tid`'s umask ("Umask:" of /proc/TID/status).
Result<mode_t> umask_of(pid_t tid);
// Thread `tid`'s root directory, an O_PATH descriptor: names resolved under it with
// open_in_root() are the names the thread sees.
Result<UniqueFd> root_directory_of(pid_t tid);

}  // namespace ssi
