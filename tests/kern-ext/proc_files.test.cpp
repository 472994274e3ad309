// kern-ext/proc_files: another process's descriptor flags, directory, umask and root, read
// from /proc — here of a child that sets them itself — and names resolved under a root.
#include "kern-ext/proc_files.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

using namespace ssi;

TEST_CASE("proc_files: a child's descriptor flags, directory, umask and root", "[proc]") {
    char dir_template[] = "/tmp/ssi-proc-files-XXXXXX";
    REQUIRE(::mkdtemp(dir_template));
    std::string dir = dir_template;
    REQUIRE(make_dirs(dir + "/root/etc", 0755));
    REQUIRE(write_file_atomic(dir + "/root/etc/name", "inside", 0644));
    REQUIRE(::symlink("/etc/name", (dir + "/root/link").c_str()) == 0);

    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // fd 10 close-on-exec, fd 11 not; umask 027; in `dir`.
        if (::dup3(ready[1], 10, O_CLOEXEC) < 0 || ::dup2(ready[1], 11) < 0 || ::chdir(dir_template) < 0) ::_exit(1);
        ::umask(027);
        if (::write(ready[1], "r", 1) != 1) ::_exit(1);
        ::pause();
        ::_exit(0);
    }
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);

    CHECK(closes_on_exec(child, 10).value() == true);
    CHECK(closes_on_exec(child, 11).value() == false);
    CHECK(closes_on_exec(child, 99).error().err == ENOENT);
    CHECK(working_directory_of(child).value() == dir);
    CHECK(umask_of(child).value() == 027);
    auto root = root_directory_of(child);
    REQUIRE(root.ok());
    CHECK(stat_at(root->get(), "", AT_EMPTY_PATH).value().st_ino == stat_path("/").value().st_ino);

    // Under another root, an absolute symlink and ".." stay inside it.
    UniqueFd inner = open_at(AT_FDCWD, dir + "/root", O_PATH | O_DIRECTORY).value();
    UniqueFd via_link = open_in_root(inner.get(), "/link", O_RDONLY).value();
    CHECK(read_file(proc_fd_path(via_link.get())).value() == "inside");
    CHECK(stat_at(open_in_root(inner.get(), "/../../..", O_PATH).value().get(), "", AT_EMPTY_PATH).value().st_ino ==
          stat_at(inner.get(), "", AT_EMPTY_PATH).value().st_ino);
    CHECK(open_in_root(inner.get(), "/etc/none", O_PATH).error().err == ENOENT);

    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    REQUIRE(remove_tree(dir));
}
