// ssi-remote/home_fs: real programs run on a HomeFs mount whose transport calls a
// HomeFileServer in this process (through the wire encoding), and must behave exactly as
// when run on the server's root directly. Needs root and /dev/fuse: tag [fuse].
// The [.bench] case prints the measurements of docs (round trip, throughput, small files).
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/unique_fd.h"
#include "kern-ext/process.h"
#include "kern-ext/run_holding_only.h"
#include "libssi/remote/home_file_server.h"
#include "ssi-remote/file_cache.h"
#include "ssi-remote/home_fs.h"
#include "ssi-remote/start_names.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

using namespace ssi;
using namespace ssi::remote;

namespace {

bool can_mount() {
    if (::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0) return true;
    WARN("not root or no /dev/fuse: FUSE tests skipped");
    return false;
}

std::string make_temp_dir(const char* tag) {
    std::string tmpl = std::string("/tmp/ssi-remote-") + tag + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    return tmpl;
}

// A home root, a mount of it, and a scratch directory for outputs that belong to neither.
struct Mounted {
    std::string root = make_temp_dir("root");
    std::string mnt = make_temp_dir("mnt");
    std::string scratch = make_temp_dir("out");
    std::unique_ptr<HomeFileServer> server;
    std::unique_ptr<HomeFs> fs;
    // Called with each request once home has answered it, before the mount sees the reply.
    std::function<void(const FsRequest&)> after_home;

    // `prepare` fills the home root before the mount (a start's names are primed at once).
    // `hook` is after_home from the mount on (before, the mount's own requests would race
    // with setting it).
    explicit Mounted(HomeFsOptions options = {}, const std::function<void(const std::string&)>& prepare = {},
                     std::function<void(const FsRequest&)> hook = {}) {
        if (prepare) prepare(root);
        after_home = std::move(hook);
        auto s = HomeFileServer::create(root);
        REQUIRE(s.ok());
        server = std::move(s).value();
        HomeFileServer* srv = server.get();
        auto m = HomeFs::mount(
            mnt,
            [this, srv](const std::string& request) -> Result<zmq::message_t> {
                std::string reply = srv->handle(request);
                if (after_home)
                    if (auto r = decode_request(std::span<const char>(request.data(), request.size()))) after_home(*r);
                return zmq::message_t(reply.data(), reply.size());
            },
            options);
        if (!m) FAIL(m.error().message());
        fs = std::move(m).value();
    }
    ~Mounted() {
        fs->unmount();
        (void)::rmdir(mnt.c_str());
        (void)remove_tree(root);
        (void)remove_tree(scratch);
    }
    std::string home(const std::string& rel) const { return root + "/" + rel; }
    std::string via(const std::string& rel) const { return mnt + "/" + rel; }
};

// Names and attributes trusted for a minute: on a loaded machine a second can pass between
// two calls of a test, and the LOOKUP or GETATTR it then costs is not what the test counts.
HomeFsOptions trusting_options() {
    HomeFsOptions o;
    o.entry_timeout = 60;
    o.attr_timeout = 60;
    return o;
}

bool kernel_at_least(int major, int minor) {
    utsname u {};
    int a = 0, b = 0;
    return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &a, &b) == 2 && (a > major || (a == major && b >= minor));
}

int sh(const std::string& command) {
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string slurp(const std::string& path) {
    auto r = read_file(path);
    if (!r) FAIL(r.error().message());
    return *r;
}

// What `fd` holds from its start, at most `limit` bytes, read by pread (its offset untouched).
std::string pread_all(int fd, size_t limit) {
    std::string got(limit, '\0');
    size_t n = 0;
    for (ssize_t r; (r = ::pread(fd, got.data() + n, got.size() - n, off_t(n))) > 0;) n += size_t(r);
    got.resize(n);
    return got;
}

void put(const std::string& path, const std::string& data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << data;
}

// Runs `command` with `dir` as its working directory, stdout to a file; returns stdout.
std::string run_in(const std::string& dir, const std::string& command, const std::string& out) {
    int rc = sh("cd '" + dir + "' && { " + command + " ; } > '" + out + "' 2>&1");
    INFO(command << " in " << dir << ": " << slurp(out));
    REQUIRE(rc == 0);
    return slurp(out);
}

// Same command, through the mount and directly at home: same output, byte for byte.
void same_output(const Mounted& m, const std::string& command) {
    std::string direct = run_in(m.root, command, m.scratch + "/direct");
    std::string through = run_in(m.mnt, command, m.scratch + "/through");
    INFO(command);
    CHECK(through == direct);
}

void fill_sample_tree(const Mounted& m) {
    REQUIRE(sh("mkdir -p '" + m.root + "/tree/sub/deeper' && cd '" + m.root + "' && "
               "seq 1 20000 | sort -R --random-source=/dev/zero > tree/numbers.txt && "
               "head -c 3000000 /dev/urandom > tree/random.bin && "
               "echo hello > tree/sub/hello.txt && echo deep > tree/sub/deeper/d.txt && "
               "ln -s sub/hello.txt tree/link && ln tree/sub/hello.txt tree/hard && "
               "chmod 640 tree/sub/hello.txt && touch -d '2001-02-03 04:05:06' tree/sub/deeper/d.txt") == 0);
}

}  // namespace

// The mount's own wait for the kernel's init is answered by the mount, not home: a thread
// of the daemon waiting on its own mount would keep it alive forever were it killed.
TEST_CASE("home_fs: the readahead is widened without a request home; a program's statfs goes home", "[fuse][home_fs]") {
    if (!can_mount()) return;
    HomeFsOptions options;
    options.readahead_kb = 2048;
    Mounted m(options);
    auto device = open_at(AT_FDCWD, m.mnt, O_PATH | O_DIRECTORY);
    REQUIRE(device.ok());
    auto dev = cached_device_of(device->get());
    REQUIRE(dev.ok());
    const std::string knob = "/sys/class/bdi/" + std::to_string(major(*dev)) + ":" + std::to_string(minor(*dev)) + "/read_ahead_kb";
    std::string kb;
    for (int i = 0; i < 500 && kb != "2048\n"; ++i, ::usleep(10000)) kb = read_file(knob).value_or("");
    CHECK(kb == "2048\n");
    CHECK(m.fs->round_trips() == 0);
    struct statvfs through {}, direct {};
    REQUIRE(::statvfs(m.mnt.c_str(), &through) == 0);
    REQUIRE(::statvfs(m.root.c_str(), &direct) == 0);
    CHECK(m.fs->round_trips() == 1);
    CHECK(through.f_blocks == direct.f_blocks);
    CHECK(through.f_files == direct.f_files);
}

namespace {

// A mount made unserved (a spare's, supervisor.h: SpareStart) over a home tree holding
// /greeting, and a reader of it, which waits until the mount is served.
struct UnservedMount {
    std::string root = make_temp_dir("root"), mnt = make_temp_dir("mnt");
    std::unique_ptr<HomeFileServer> server;
    std::unique_ptr<HomeFs> fs;
    std::atomic<bool> read_done{false};
    Result<std::string> seen = std::string("<not read>");
    std::thread reader;

    explicit UnservedMount(std::vector<std::string> mounted_over = {}) {
        put(root + "/greeting", "made at home\n");
        auto made = HomeFileServer::create(root);
        REQUIRE(made.ok());
        server = std::move(*made);
        auto mounted = HomeFs::mount_unserved(mnt, false, std::move(mounted_over));
        REQUIRE(mounted.ok());
        fs = std::move(*mounted);
    }
    void start_reader() {
        reader = std::thread([this] {
            seen = read_file(mnt + "/greeting");
            read_done = true;
        });
    }
    // Served by the home file server, each reply through `alter` on its way.
    void serve(std::function<void(std::string&)> alter = {}) {
        fs->serve([srv = server.get(), alter](const std::string& request) -> Result<zmq::message_t> {
            std::string reply = srv->handle(request);
            if (alter) alter(reply);
            return zmq::message_t(reply.data(), reply.size());
        }, {});
    }
    bool read_finishes() {
        for (int i = 0; i < 1000 && !read_done; ++i) ::usleep(10000);
        return read_done;
    }
    ~UnservedMount() {
        if (reader.joinable()) {
            if (!read_done) fs->unmount();  // the read then fails instead of waiting forever
            reader.join();
        }
        fs->unmount();
        CHECK(::rmdir(mnt.c_str()) == 0);  // not busy: the mount is gone
        (void)remove_tree(root);
    }
};

// The kernel's readahead window of the mount at `mnt`, read without asking the mount.
std::string readahead_kb_of(const std::string& mnt) {
    auto root = open_at(AT_FDCWD, mnt, O_PATH | O_DIRECTORY);
    if (!root) return "<no root>";
    auto device = cached_device_of(root->get());
    if (!device) return "<no device>";
    auto text = read_file("/sys/class/bdi/" + std::to_string(major(*device)) + ":" +
                          std::to_string(minor(*device)) + "/read_ahead_kb");
    return text ? *text : "<unreadable>";
}

}  // namespace

// What touches a spare's mount before its run waits for serve(), and then sees home.
TEST_CASE("home_fs: a mount made unserved answers once served", "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m;
    m.start_reader();
    ::usleep(200000);
    CHECK_FALSE(m.read_done.load());  // waits: nobody answers yet
    m.serve();
    REQUIRE(m.read_finishes());
    CHECK(m.seen.value_or("<error>") == "made at home\n");
    CHECK(m.fs->round_trips() > 0);
}

// A spare starts its loop before its run (HomeFs::start_loop): the kernel's INIT is
// answered then — the readahead is widened after it — while requests wait for serve().
TEST_CASE("home_fs: a loop started unserved answers INIT now, requests once served", "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m;
    m.fs->start_loop(4, 4096);
    std::string readahead;
    for (int i = 0; i < 500 && (readahead = readahead_kb_of(m.mnt)) != "4096\n"; ++i) ::usleep(10000);
    CHECK(readahead == "4096\n");  // only after the kernel has our INIT's answer
    m.start_reader();
    ::usleep(200000);
    CHECK_FALSE(m.read_done.load());  // its lookup waits for the run
    CHECK(m.fs->round_trips() == 0);
    m.serve();
    REQUIRE(m.read_finishes());
    CHECK(m.seen.value_or("<error>") == "made at home\n");
}

// A spare's reaper builds the program's root before its run (kern-ext/launch_root.h):
// the names it mounts over are answered by the mount at once, never at home; and what is
// mounted on them stays there through the run — the kernel would detach it were their
// node to change, as a listing of the root naming home's node would make it.
TEST_CASE("home_fs: names the root mounts over are answered before the run and keep their mounts",
          "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m({"dev", "proc"});
    REQUIRE(sh("mkdir '" + m.root + "/dev' && echo home > '" + m.root + "/dev/at-home'") == 0);
    const std::string over = make_temp_dir("over");
    put(over + "/ours", "this node's\n");
    m.fs->start_loop(4, 0);
    struct stat st {};
    REQUIRE(::stat((m.mnt + "/dev").c_str(), &st) == 0);  // unserved: answered here
    CHECK(S_ISDIR(st.st_mode));
    REQUIRE(::stat((m.mnt + "/proc").c_str(), &st) == 0);  // home has none: ours all the same
    CHECK(m.fs->round_trips() == 0);
    REQUIRE(::mount(over.c_str(), (m.mnt + "/dev").c_str(), nullptr, MS_BIND, nullptr) == 0);
    struct Unmount {
        std::string at;
        ~Unmount() { (void)::umount2(at.c_str(), MNT_DETACH); }
    } unmount{m.mnt + "/dev"};
    m.serve();
    CHECK(run_in(m.root, "ls -a '" + m.mnt + "'", m.root + "/listing") ==
          ".\n..\ndev\ngreeting\nlisting\n");  // home's listing, with its dev
    CHECK(read_file(m.mnt + "/dev/ours").value_or("<gone>") == "this node's\n");
    CHECK(read_file(m.mnt + "/greeting").value_or("<error>") == "made at home\n");
    CHECK(::access((m.mnt + "/proc/anything").c_str(), F_OK) != 0);
    (void)remove_tree(over);
}

// A spare whose loop runs and that never gets a run: what waited for one fails, and the
// unmount does not wait for it.
TEST_CASE("home_fs: a loop started and never served unmounts, failing what waited", "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m;
    m.fs->start_loop(4, 0);
    m.start_reader();
    ::usleep(200000);
    CHECK_FALSE(m.read_done.load());
    m.fs->unmount();
    m.reader.join();
    CHECK_FALSE(m.seen.ok());  // EIO, or ECONNABORTED when the unmount beat its answer
}

// A spare's reaper waits in a lookup the loop has read (it enters the mount before the
// run): the kernel no longer lets it go when killed, only the request's answer does — so a
// spare dropped unused fails its waiting requests before it kills and reaps the reaper
// (Supervisor, SpareStart).
TEST_CASE("home_fs: a killed reader of a mount never served goes once its requests fail", "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m;
    m.fs->start_loop(4, 0);
    auto child = fork_process();
    REQUIRE(child.ok());
    if (*child == 0) exit_child(read_file(m.mnt + "/greeting").ok() ? 0 : 1);
    ::usleep(200'000);  // its lookup read by the loop, waiting for the run
    REQUIRE(::kill(*child, SIGKILL) == 0);
    ::usleep(300'000);
    int status = 0;
    CHECK(::waitpid(*child, &status, WNOHANG) == 0);  // killed, still in its request
    m.fs->fail_unserved();
    pid_t reaped = 0;
    for (int i = 0; i < 500 && (reaped = ::waitpid(*child, &status, WNOHANG)) == 0; ++i) ::usleep(10'000);
    CHECK(reaped == *child);
}

// A daemon's own request to its mount, read by a worker that the daemon's death ends
// before the reply, is ended by the kernel only when the connection aborts, at the last
// close of /dev/fuse. Made by a thread of the daemon, it would hold that descriptor (its
// own table's) forever; made through run_holding_only, it does not.
TEST_CASE("home_fs: a daemon killed while its own lookup waits is not held by it", "[fuse][home_fs]") {
    if (!can_mount()) return;
    const std::string mnt = make_temp_dir("mnt-killed");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    auto daemon = fork_process();
    REQUIRE(daemon.ok());
    if (*daemon == 0) {
        ::close(ready[0]);
        auto mounted = HomeFs::mount_unserved(mnt);
        if (!mounted) exit_child(2);
        (*mounted)->start_loop(4, 0);
        auto root = open_at(AT_FDCWD, mnt, O_PATH | O_DIRECTORY);
        if (!root) exit_child(3);
        (void)write_all(ready[1], "r");
        std::atomic<bool> stop{false};
        const std::string names[] = {"greeting"};
        (void)look_up_apart(root->get(), names, stop);  // waits for a run that never comes
        exit_child(4);
    }
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    ::usleep(200'000);  // the lookup read by the loop, waiting for the run
    int status = 0;
    CHECK(::waitpid(*daemon, &status, WNOHANG) == 0);
    REQUIRE(::kill(*daemon, SIGKILL) == 0);
    pid_t reaped = 0;
    for (int i = 0; i < 500 && (reaped = ::waitpid(*daemon, &status, WNOHANG)) == 0; ++i) ::usleep(10'000);
    CHECK(reaped == *daemon);
    (void)::umount2(mnt.c_str(), MNT_DETACH);
    (void)::rmdir(mnt.c_str());
}

// Home on another ssi build: its replies carry another file protocol version. Every
// request fails (EIO) and the mount keeps why, for the supervisor to tell the user.
TEST_CASE("home_fs: replies of another protocol version fail, and the mount says why", "[fuse][home_fs]") {
    if (!can_mount()) return;
    UnservedMount m;
    m.serve([](std::string& reply) {
        REQUIRE(reply.size() > 1);
        reply[1] = char(kFsProtocolVersion - 1);  // [version, ...], the version a positive fixint
    });
    CHECK(m.fs->undecodable_reply().empty());
    m.start_reader();
    REQUIRE(m.read_finishes());
    REQUIRE_FALSE(m.seen.ok());
    CHECK(m.seen.error().err == EIO);
    const std::string why = m.fs->undecodable_reply();
    INFO(why);
    CHECK(why.find("file protocol version " + std::to_string(kFsProtocolVersion - 1)) != std::string::npos);
}

// One never served (a spare whose agent stopped) unmounts all the same.
TEST_CASE("home_fs: a mount never served unmounts", "[fuse][home_fs]") {
    if (!can_mount()) return;
    std::string mnt = make_temp_dir("mnt");
    struct stat before {};
    REQUIRE(::stat(mnt.c_str(), &before) == 0);
    {
        auto fs = HomeFs::mount_unserved(mnt);
        REQUIRE(fs.ok());
    }
    struct stat after {};
    REQUIRE(::stat(mnt.c_str(), &after) == 0);  // would wait on a mount left behind
    CHECK(after.st_dev == before.st_dev);
    CHECK(::rmdir(mnt.c_str()) == 0);
}

TEST_CASE("home_fs: programs read the same bytes through the mount", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    fill_sample_tree(m);
    same_output(m, "sha256sum tree/numbers.txt tree/random.bin tree/sub/hello.txt tree/link tree/hard");
    same_output(m, "wc tree/numbers.txt tree/random.bin");
    same_output(m, "gzip -c tree/random.bin | sha256sum");
    same_output(m, "ls -laR --time-style=full-iso tree");
    same_output(m, "stat -c '%n %s %a %h %u %g %Y %F' tree tree/numbers.txt tree/sub tree/link tree/hard");
    same_output(m, "readlink tree/link; cat tree/link");
    same_output(m, "find tree | sort; du -a --apparent-size tree | sort -k2");
    same_output(m, "sh -c 'cat tree/numbers.txt | grep 7 | sort -n | uniq | tail -3'");
    same_output(m, "test -r tree/numbers.txt && test -w tree/numbers.txt && ! test -x tree/numbers.txt && echo ok");
}

TEST_CASE("home_fs: programs write the same bytes through the mount", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    fill_sample_tree(m);

    SECTION("sort < in > out") {
        run_in(m.mnt, "sort -n < tree/numbers.txt > sorted.via", m.scratch + "/o");
        run_in(m.root, "sort -n < tree/numbers.txt > sorted.home", m.scratch + "/o");
        CHECK(slurp(m.home("sorted.via")) == slurp(m.home("sorted.home")));
    }
    SECTION("gzip to a file and back") {
        run_in(m.mnt, "gzip -c tree/random.bin > r.gz && gzip -dc r.gz > r.back", m.scratch + "/o");
        CHECK(slurp(m.home("r.back")) == slurp(m.home("tree/random.bin")));
    }
    SECTION("tar of a directory lists the same as one made at home") {
        run_in(m.mnt, "tar cf via.tar tree", m.scratch + "/o");
        run_in(m.root, "tar cf home.tar tree", m.scratch + "/o");
        std::string a = run_in(m.root, "tar tvf via.tar", m.scratch + "/a");
        std::string b = run_in(m.root, "tar tvf home.tar", m.scratch + "/b");
        CHECK(a == b);
        CHECK(a.find("tree/hard link to tree/sub/hello.txt") != std::string::npos);
    }
    SECTION("python3 reads, writes and renames") {
        std::string script =
            "python3 -c \"import os\n"
            "data = open('tree/numbers.txt').read().split()\n"
            "with open('py.tmp', 'w') as f: f.write('\\n'.join(sorted(data)))\n"
            "os.rename('py.tmp', 'py.out')\n"
            "print(len(data), os.path.exists('py.tmp'), os.stat('py.out').st_size)\"";
        std::string out = run_in(m.mnt, script, m.scratch + "/o");
        CHECK(out.rfind("20000 False", 0) == 0);
        CHECK(::access(m.home("py.tmp").c_str(), F_OK) != 0);
        run_in(m.root, "python3 -c \"print('\\n'.join(sorted(open('tree/numbers.txt').read().split())), end='')\" > py.home",
               m.scratch + "/o");
        CHECK(slurp(m.home("py.out")) == slurp(m.home("py.home")));
    }
    SECTION("sqlite3 creates, fills and queries a database") {
        std::string sql =
            "sqlite3 db.sqlite 'create table t(k integer primary key, v text);' && "
            "for i in 1 2 3 4 5; do sqlite3 db.sqlite \"insert into t(v) values ('row $i');\"; done && "
            "sqlite3 db.sqlite 'begin; insert into t(v) select v || \" copy\" from t; commit;' && "
            "sqlite3 db.sqlite 'select k, v from t order by k; select count(*) from t; pragma integrity_check;'";
        std::string via = run_in(m.mnt, sql, m.scratch + "/o");
        CHECK(via.find("10|row 5 copy") != std::string::npos);
        CHECK(via.find("\n10\nok\n") != std::string::npos);
        // The database is a real one at home.
        std::string home = run_in(m.root, "sqlite3 db.sqlite 'select count(*) from t; pragma integrity_check;'",
                                  m.scratch + "/h");
        CHECK(home == "10\nok\n");
        CHECK(::access(m.home("db.sqlite-journal").c_str(), F_OK) != 0);
    }
    SECTION("append, truncate, chmod, utimens") {
        run_in(m.mnt, "echo one >> app.txt && echo two >> app.txt", m.scratch + "/o");
        run_in(m.root, "echo home >> app.txt", m.scratch + "/o");
        run_in(m.mnt, "echo three >> app.txt", m.scratch + "/o");
        CHECK(slurp(m.home("app.txt")) == "one\ntwo\nhome\nthree\n");
        run_in(m.mnt, "truncate -s 4 app.txt", m.scratch + "/o");
        CHECK(slurp(m.home("app.txt")) == "one\n");
        run_in(m.mnt, "chmod 604 app.txt && touch -d '1999-12-31 23:59:58' app.txt", m.scratch + "/o");
        CHECK(run_in(m.root, "stat -c '%a %Y' app.txt", m.scratch + "/o") ==
              run_in(m.mnt, "stat -c '%a %Y' app.txt", m.scratch + "/o2"));
        CHECK(run_in(m.root, "stat -c %a app.txt", m.scratch + "/o") == "604\n");
    }
    SECTION("mkdir, rmdir, symlink, readlink, hard link, unlink, rename over") {
        run_in(m.mnt,
               "mkdir -p a/b/c && rmdir a/b/c && ln -s ../tree/sub/hello.txt a/sl && ln tree/numbers.txt a/hl && "
               "mv a/hl a/hl2 && echo x > a/gone && rm a/gone && echo new > a/over && mv a/over tree/sub/hello.txt",
               m.scratch + "/o");
        CHECK(run_in(m.root, "ls a; readlink a/sl; cat a/sl; stat -c %h a/hl2", m.scratch + "/o") ==
              "b\nhl2\nsl\n../tree/sub/hello.txt\nnew\n2\n");
        CHECK(run_in(m.mnt, "[ $(stat -c %i a/hl2) = $(stat -c %i tree/numbers.txt) ] && echo same",
                     m.scratch + "/o") == "same\n");
        CHECK(run_in(m.mnt, "stat -f -c '%b %S' .", m.scratch + "/o") ==
              run_in(m.root, "stat -f -c '%b %S' .", m.scratch + "/o2"));
    }
    SECTION("a write is at home when write(2) returns") {
        std::string out = run_in(
            m.mnt,
            "python3 -c \"import os\n"
            "fd = os.open('w.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n"
            "os.write(fd, b'written')\n"
            "print(open('" + m.home("w.txt") + "').read())\n"
            "os.close(fd)\"",
            m.scratch + "/o");
        CHECK(out == "written\n");
    }
    // The kernel sends RELEASE after the last close() has returned: it may still be coming.
    for (int i = 0; i < 200 && m.server->handle_count() != 0; ++i) ::usleep(10000);
    CHECK(m.server->handle_count() == 0);
}

TEST_CASE("home_fs: a file changed at home is fresh at the next open", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    put(m.home("f.txt"), "version one\n");
    CHECK(slurp(m.via("f.txt")) == "version one\n");
    CHECK(slurp(m.via("f.txt")) == "version one\n");  // cached pages kept

    put(m.home("f.txt"), "version TWO\n");  // same size, new bytes
    CHECK(slurp(m.via("f.txt")) == "version TWO\n");

    put(m.home("f.txt"), "version three, longer\n");
    CHECK(slurp(m.via("f.txt")) == "version three, longer\n");
    put(m.home("f.txt"), "v4\n");
    CHECK(slurp(m.via("f.txt")) == "v4\n");

    REQUIRE(write_file_atomic(m.home("f.txt"), "replaced by rename\n", 0644).ok());
    CHECK(slurp(m.via("f.txt")) == "replaced by rename\n");

    REQUIRE(::unlink(m.home("f.txt").c_str()) == 0);
    CHECK(::access(m.via("f.txt").c_str(), F_OK) != 0);
    put(m.home("g.txt"), "created at home\n");
    CHECK(slurp(m.via("g.txt")) == "created at home\n");
}

// The mount caches names (entry_timeout); each use of a cached name is checked at home.
TEST_CASE("home_fs: names cached on the target never outlive a change at home", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    REQUIRE(::mkdir(m.home("d").c_str(), 0755) == 0);
    put(m.home("d/f"), "old directory\n");
    CHECK(slurp(m.via("d/f")) == "old directory\n");  // "d" and "d/f" are cached now

    SECTION("a directory renamed and replaced at home") {
        REQUIRE(::rename(m.home("d").c_str(), m.home("d.old").c_str()) == 0);
        REQUIRE(::mkdir(m.home("d").c_str(), 0755) == 0);
        put(m.home("d/f"), "new directory\n");
        CHECK(slurp(m.via("d/f")) == "new directory\n");
        CHECK(slurp(m.via("d.old/f")) == "old directory\n");
        // Created through the mount: lands in the directory "d" names at home now.
        put(m.via("d/g"), "made remotely\n");
        CHECK(slurp(m.home("d/g")) == "made remotely\n");
    }
    SECTION("a file replaced by a hard link's rename at home") {
        REQUIRE(::link(m.home("d/f").c_str(), m.home("d/keep").c_str()) == 0);
        CHECK(slurp(m.via("d/keep")) == "old directory\n");  // both names cached
        REQUIRE(write_file_atomic(m.home("d/f"), "replaced\n", 0644).ok());
        CHECK(slurp(m.via("d/f")) == "replaced\n");
        CHECK(slurp(m.via("d/keep")) == "old directory\n");
    }
    // The kernel must not keep symlink targets (FUSE_CAP_CACHE_SYMLINKS): through a cached
    // name it would follow the old link without asking home, where the name is checked.
    SECTION("a symlink replaced at home under a cached name") {
        REQUIRE(::symlink("f", m.home("d/link").c_str()) == 0);
        CHECK(slurp(m.via("d/link")) == "old directory\n");  // "d/link" is cached now
        put(m.home("d/other"), "other\n");
        REQUIRE(::unlink(m.home("d/link").c_str()) == 0);
        REQUIRE(::symlink("other", m.home("d/link").c_str()) == 0);
        CHECK(slurp(m.via("d/link")) == "other\n");
        char target[16] = {};
        CHECK(::readlink(m.via("d/link").c_str(), target, sizeof target - 1) == 5);
        CHECK(std::string(target) == "other");
    }
    SECTION("a directory removed at home") {
        REQUIRE(remove_tree(m.home("d")).ok());
        CHECK(::open(m.via("d/f").c_str(), O_RDONLY) < 0);
        CHECK(errno == ENOENT);
        CHECK(::mkdir(m.via("d").c_str(), 0755) == 0);
        put(m.via("d/f"), "again\n");
        CHECK(slurp(m.home("d/f")) == "again\n");
    }
    SECTION("renames through the mount keep the names it caches right") {
        REQUIRE(::rename(m.via("d/f").c_str(), m.via("d/h").c_str()) == 0);
        CHECK(slurp(m.via("d/h")) == "old directory\n");
        CHECK(::access(m.via("d/f").c_str(), F_OK) != 0);
        REQUIRE(::rename(m.via("d").c_str(), m.via("e").c_str()) == 0);
        CHECK(slurp(m.via("e/h")) == "old directory\n");
        CHECK(slurp(m.home("e/h")) == "old directory\n");
    }
}

// A small file opened read-only comes whole with its open (OpenReply::whole).
TEST_CASE("home_fs: a small file read costs its open and release only", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m(trusting_options());
    std::string small(5000, 's'), big(3 * kOpenWholeMaxBytes + 7, 'b');
    put(m.home("small"), small);
    put(m.home("big"), big);
    CHECK(::access(m.via("small").c_str(), R_OK) == 0);  // its name is known now
    auto read_whole = [&](const std::string& path) {
        int fd = ::open(path.c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        std::string got(1 << 20, '\0');
        ssize_t n = ::read(fd, got.data(), got.size());
        ::close(fd);
        got.resize(size_t(std::max<ssize_t>(n, 0)));
        return got;
    };
    uint64_t before = m.fs->round_trips();
    const uint64_t local_before = m.fs->local_reads();
    CHECK(read_whole(m.via("small")) == small);
    // OPEN, and RELEASE (the kernel sends it after close returns): no LOOKUP, no READ —
    // not even one answered here: the open put the bytes in the page cache.
    for (int i = 0; i < 100 && m.fs->round_trips() - before < 2; ++i) ::usleep(10000);
    CHECK(m.fs->round_trips() - before == 2);
    CHECK(m.fs->local_reads() == local_before);
    CHECK(slurp(m.via("big")) == big);

    SECTION("a write through the mount is seen by a read-only descriptor opened before it") {
        int reader = ::open(m.via("small").c_str(), O_RDONLY);
        REQUIRE(reader >= 0);
        int writer = ::open(m.via("small").c_str(), O_WRONLY);
        REQUIRE(writer >= 0);
        REQUIRE(::pwrite(writer, "NEW", 3, 4096) == 3);
        ::close(writer);
        char buf[8] = {};
        CHECK(::pread(reader, buf, 3, 4096) == 3);
        CHECK(std::string(buf) == "NEW");
        ::close(reader);
    }
}

// An open's bytes put in the page cache could land over a local writer's newer pages (the
// kernel holds them locked until its WRITE is answered, then the store would overwrite
// them): while the file is open for writing here, its read-only opens store nothing, and
// their READs go home.
TEST_CASE("home_fs: no bytes are stored over a local writer's", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m(trusting_options());
    const std::string small(3000, 'w');
    put(m.home("small"), small);
    REQUIRE(::access(m.via("small").c_str(), R_OK) == 0);
    // Requests made by the read alone (home or answered here), after its open.
    auto requests_of_a_read = [&] {
        int fd = ::open(m.via("small").c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        const uint64_t before = m.fs->round_trips() + m.fs->local_reads();
        std::string got(8192, '\0');
        got.resize(size_t(std::max<ssize_t>(::read(fd, got.data(), got.size()), 0)));
        const uint64_t requests = m.fs->round_trips() + m.fs->local_reads() - before;
        ::close(fd);
        CHECK(got == small);
        return requests;
    };
    int writer = ::open(m.via("small").c_str(), O_WRONLY);
    REQUIRE(writer >= 0);
    const uint64_t trips = m.fs->round_trips();
    CHECK(requests_of_a_read() == 1);  // not stored: a READ
    ::close(writer);
    // Until both RELEASEs went home — the writer's, and the read's, which goes in a batch
    // a moment later — after the read's OPEN and READ.
    for (int i = 0; i < 200 && m.fs->round_trips() - trips < 4; ++i) ::usleep(5000);
    CHECK(requests_of_a_read() == 0);  // stored at the open
}

// A write through the mount, done and closed while another open was on its way back from
// home with the bytes from before it: those bytes must neither go into the page cache over
// the written ones, where a reader that opened earlier would read them, nor answer that
// open's READs.
TEST_CASE("home_fs: no bytes are stored over a write made during their open", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m(trusting_options());
    put(m.home("small"), std::string(3000, 'o'));
    int earlier = ::open(m.via("small").c_str(), O_RDONLY);
    REQUIRE(earlier >= 0);
    std::atomic<bool> written{false}, released{false};
    m.after_home = [&](const FsRequest& r) {
        if (std::holds_alternative<ReleaseRequest>(r)) released = true;
        if (!std::holds_alternative<OpenRequest>(r) || written.exchange(true)) return;
        // Served by other FUSE threads while this one waits here.
        int writer = ::open(m.via("small").c_str(), O_WRONLY);
        CHECK(::pwrite(writer, "NEW", 3, 0) == 3);
        ::close(writer);
        for (int i = 0; i < 200 && !released; ++i) ::usleep(5000);  // the kernel releases it after close
    };
    int during = ::open(m.via("small").c_str(), O_RDONLY);
    REQUIRE(during >= 0);
    REQUIRE(released);
    m.after_home = nullptr;
    for (int fd : {during, earlier}) {  // the write was done before either reads
        char buf[4] = {};
        CHECK(::pread(fd, buf, 3, 0) == 3);
        CHECK(std::string(buf) == "NEW");
    }
    ::close(during);
    ::close(earlier);
}

TEST_CASE("home_fs: the releases of files read and closed go home together", "[fuse][home_fs]") {
    if (!can_mount()) return;
    HomeFsOptions options;
    Mounted m(options);
    constexpr int kFiles = 60;
    for (int i = 0; i < kFiles; ++i) put(m.home("f" + std::to_string(i)), std::string(100, char('a' + i % 26)));
    const size_t open_before = m.server->handle_count();
    const uint64_t before = m.fs->round_trips();
    for (int i = 0; i < kFiles; ++i) CHECK(slurp(m.via("f" + std::to_string(i))) == std::string(100, char('a' + i % 26)));
    // Every one of them closed at home too, soon.
    for (int i = 0; i < 200 && m.server->handle_count() > open_before; ++i) ::usleep(10000);
    CHECK(m.server->handle_count() == open_before);
    // A LOOKUP and an OPEN each, and a few batches of releases: not one RELEASE per file.
    const uint64_t trips = m.fs->round_trips() - before;
    INFO(trips << " round trips for " << kFiles << " files");
    CHECK(trips >= 2 * kFiles);
    CHECK(trips < 2 * kFiles + kFiles / 2);
}

TEST_CASE("home_fs: the files of a listing are opened without a lookup each", "[fuse][home_fs]") {
    if (!can_mount()) return;
    HomeFsOptions options;
    options.entry_timeout = 60;  // a loaded machine must not turn names stale mid-count
    options.attr_timeout = 60;
    Mounted m(options);
    // Many more than one page of the kernel's listing buffer holds (~25 entries with
    // attributes): every page of the listing must come with its lookups, not only the first.
    constexpr int kFiles = 300;
    REQUIRE(sh("mkdir '" + m.home("d") + "'") == 0);
    for (int i = 0; i < kFiles; ++i) put(m.home("d/f" + std::to_string(1000 + i)), std::to_string(i));
    const uint64_t before = m.fs->round_trips();
    std::string out = run_in(m.scratch, "cat '" + m.via("d") + "'/*", m.scratch + "/o");
    CHECK(out == run_in(m.scratch, "cat '" + m.home("d") + "'/*", m.scratch + "/o"));
    // An OPEN per file; the listing's pages and the batched releases are few. A LOOKUP per
    // file would make it twice that.
    const uint64_t trips = m.fs->round_trips() - before;
    INFO(trips << " round trips for " << kFiles << " files");
    CHECK(trips < kFiles + kFiles / 4);
}

// A listing ends with a read that finds nothing: home says where the listing ends, so that
// read is answered here. Listing a small directory costs OPENDIR, one READDIRPLUS and the
// RELEASEDIR; a big one as many READDIRPLUS as its pages, and never loses an entry.
TEST_CASE("home_fs: a listing's last, empty read is answered on the target", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m(trusting_options());
    REQUIRE(sh("mkdir '" + m.home("small") + "' '" + m.home("big") + "' && touch '" + m.home("small/a") + "' '" +
               m.home("small/b") + "'") == 0);
    for (int i = 0; i < 300; ++i) put(m.home("big/entry-with-a-long-name-" + std::to_string(i)), "");
    CHECK(::access(m.via("small").c_str(), R_OK) == 0);  // its LOOKUP, not counted below
    uint64_t before = m.fs->round_trips();
    CHECK(run_in(m.scratch, "ls -a '" + m.via("small") + "'", m.scratch + "/o") == ".\n..\na\nb\n");
    for (int i = 0; i < 200 && m.fs->round_trips() - before < 3; ++i) ::usleep(10000);  // RELEASEDIR comes after
    CHECK(m.fs->round_trips() - before == 3);
    // Every entry of a listing of many pages, each once.
    CHECK(run_in(m.scratch, "ls '" + m.via("big") + "' | sort -u | wc -l", m.scratch + "/o") == "300\n");
    CHECK(run_in(m.scratch, "ls -f '" + m.via("big") + "' | wc -l", m.scratch + "/o") == "302\n");
}

TEST_CASE("home_fs: a file read once is read from this node's copy next time, never stale", "[fuse][home_fs]") {
    if (!can_mount()) return;
    test::TempDir cache_top("remote-cache");  // outlives the mount below
    const std::string& cache_dir = cache_top.path();
    auto cache = FileCache::open(cache_dir + "/copies", 64 << 20);
    REQUIRE(cache.ok());
    HomeFsOptions options;
    options.entry_timeout = 60;  // only OPEN, READ and RELEASE are counted below
    options.attr_timeout = 60;
    options.cache = *cache;
    options.home = 1;
    options.passthrough_settled_s = 1;  // the copy's version is a second old below
    Mounted m(options);
    const std::string first = std::string(300 << 10, 'a') + "end", second = std::string(300 << 10, 'b') + "end";
    put(m.home("lib.so"), first);
    ::sleep(1);  // a version is copied only once it is over a second old
    ::usleep(100000);
    auto copies = [&] { return sh("test -n \"$(ls -A '" + cache_dir + "/copies')\"") == 0; };
    // Reads that go to the file system, not to the mount's page cache.
    auto read_uncached = [&] {
        int fd = ::open(m.via("lib.so").c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        std::string got(1 << 20, '\0');
        size_t n = 0;
        for (ssize_t r; (r = ::pread(fd, got.data() + n, got.size() - n, off_t(n))) > 0;) n += size_t(r);
        ::close(fd);
        got.resize(n);
        return got;
    };
    auto settle = [&](uint64_t before, uint64_t want) {  // RELEASE goes after close returns
        for (int i = 0; i < 200 && m.fs->round_trips() - before < want; ++i) ::usleep(10000);
        return m.fs->round_trips() - before;
    };

    CHECK(::access(m.via("lib.so").c_str(), R_OK) == 0);
    uint64_t before = m.fs->round_trips();
    CHECK(read_uncached() == first);
    CHECK(settle(before, 3) > 2);  // OPEN, READs, RELEASE
    for (int i = 0; i < 200 && !copies(); ++i) ::usleep(10000);
    REQUIRE(copies());

    before = m.fs->round_trips();
    const uint64_t local_before = m.fs->local_reads();
    CHECK(read_uncached() == first);
    CHECK(settle(before, 2) == 2);  // OPEN (the check against home) and RELEASE: no READ
    // Nor a READ answered here: the kernel read the copy itself (passthrough, Linux 6.9+).
    if (kernel_at_least(6, 9)) {
        CHECK(m.fs->passes_through());
        CHECK(m.fs->local_reads() == local_before);
    }

    // Mapped, and open twice at once (the two opens share the copy as their backing).
    {
        int a = ::open(m.via("lib.so").c_str(), O_RDONLY), b = ::open(m.via("lib.so").c_str(), O_RDONLY);
        REQUIRE(a >= 0);
        REQUIRE(b >= 0);
        void* map = ::mmap(nullptr, first.size(), PROT_READ, MAP_PRIVATE, a, 0);
        REQUIRE(map != MAP_FAILED);
        CHECK(std::string(static_cast<const char*>(map), first.size()) == first);
        std::string tail(3, '\0');
        CHECK(::pread(b, tail.data(), 3, off_t(first.size() - 3)) == 3);
        CHECK(tail == "end");
        ::munmap(map, first.size());
        ::close(a);
        ::close(b);
    }
    // Once closed, the file opens for writing again, and what is written is read back.
    before = m.fs->round_trips();
    REQUIRE(sh("printf more >> '" + m.via("lib.so") + "'") == 0);
    CHECK(slurp(m.home("lib.so")) == first + "more");
    CHECK(read_uncached() == first + "more");
    put(m.home("lib.so"), first);

    // Changed at home, same size, within a second: the copy is of another version.
    put(m.home("lib.so"), second);
    CHECK(read_uncached() == second);
    CHECK(read_uncached() == second);

    // A copy made while the file is open through the page cache is not passed through
    // until that open closes: the kernel would fail the open (EIO).
    put(m.home("other.so"), first);
    ::sleep(1);
    ::usleep(100000);
    auto read_whole = [&](int fd) { return pread_all(fd, first.size() + 1); };
    int held = ::open(m.via("other.so").c_str(), O_RDONLY);  // no copy yet: the page cache
    REQUIRE(held >= 0);
    CHECK(read_whole(held) == first);
    auto copied = [&] { return sh("test $(ls -A '" + cache_dir + "/copies' | wc -l) -ge 2") == 0; };
    for (int i = 0; i < 3 && !copied(); ++i) {  // another open, read whole and closed, makes it
        int fill = ::open(m.via("other.so").c_str(), O_RDONLY);
        REQUIRE(fill >= 0);
        ::posix_fadvise(fill, 0, 0, POSIX_FADV_DONTNEED);
        CHECK(read_whole(fill) == first);
        ::close(fill);
        for (int j = 0; j < 100 && !copied(); ++j) ::usleep(10000);
    }
    REQUIRE(copied());
    int next = ::open(m.via("other.so").c_str(), O_RDONLY);
    CHECK(next >= 0);
    if (next >= 0) {
        CHECK(read_whole(next) == first);
        ::close(next);
    }
    ::close(held);
}

// Each read of a backing file makes the kernel forget the atime, so the loader's fstat of
// a library it just read asked home again for what the open had said.
TEST_CASE("home_fs: a stat after a read of this node's copy is answered here, until a change through the mount",
          "[fuse][home_fs]") {
    if (!can_mount() || !kernel_at_least(6, 9)) return;
    test::TempDir cache_top("remote-cache");  // outlives the mount below
    auto cache = FileCache::open(cache_top.path() + "/copies", 64 << 20);
    REQUIRE(cache.ok());
    HomeFsOptions options;
    options.entry_timeout = 60;
    options.attr_timeout = 60;
    options.cache = *cache;
    options.home = 1;
    options.passthrough_settled_s = 1;
    Mounted m(options);
    const std::string bytes = std::string(300 << 10, 'a');
    put(m.home("lib.so"), bytes);
    ::sleep(1);  // a version is copied only once it is over a second old
    ::usleep(100000);
    auto read_all = [&](int fd) { return pread_all(fd, bytes.size() + 16); };
    // The first read makes the copy; the next open reads it in the kernel.
    for (int i = 0; i < 50 && sh("test -n \"$(ls -A '" + cache_top.path() + "/copies')\"") != 0; ++i) {
        int fd = ::open(m.via("lib.so").c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        CHECK(read_all(fd) == bytes);
        ::close(fd);
        ::usleep(20000);
    }
    const uint64_t local_before = m.fs->local_reads();
    uint64_t before = m.fs->round_trips();
    UniqueFd fd(::open(m.via("lib.so").c_str(), O_RDONLY));  // closed before the unmount, even on failure
    REQUIRE(fd);
    CHECK(read_all(fd.get()) == bytes);
    struct stat st {};
    REQUIRE(::fstat(fd.get(), &st) == 0);
    CHECK(m.fs->round_trips() - before == 1);  // the OPEN only: no READ, no GETATTR
    CHECK(m.fs->local_reads() == local_before);  // read in the kernel, from the copy
    struct stat at_home {};
    REQUIRE(::stat(m.home("lib.so").c_str(), &at_home) == 0);
    CHECK(st.st_size == at_home.st_size);
    CHECK(st.st_mtim.tv_sec == at_home.st_mtim.tv_sec);
    CHECK(st.st_mtim.tv_nsec == at_home.st_mtim.tv_nsec);
    CHECK(st.st_atim.tv_sec == at_home.st_atim.tv_sec);

    fd.reset();

    // Written through the mount (a file open through its copy cannot be opened for
    // writing too): the next stat asks home.
    REQUIRE(sh("printf more >> '" + m.via("lib.so") + "'") == 0);
    REQUIRE(::stat(m.via("lib.so").c_str(), &st) == 0);
    CHECK(st.st_size == off_t(bytes.size() + 4));
}

TEST_CASE("home_fs: a small settled file comes whole once, then opens from this node's copy, never stale",
          "[fuse][home_fs]") {
    if (!can_mount()) return;
    test::TempDir cache_top("remote-cache");  // outlives the mount below
    const std::string copies_dir = cache_top.path() + "/copies";
    auto cache = FileCache::open(copies_dir, 64 << 20);
    REQUIRE(cache.ok());
    HomeFsOptions options = trusting_options();
    options.cache = *cache;
    options.home = 1;
    // Bigger than what always comes whole, smaller than what never does: the loader's cache.
    const std::string first = std::string(40 << 10, 'a') + "1", second = std::string(40 << 10, 'b') + "2";
    std::atomic<int> opens{0}, opens_with_copy{0};
    Mounted m(options, [&](const std::string& root) { put(root + "/ld.so.cache", first); },
              [&](const FsRequest& r) {
                  if (auto* open = std::get_if<OpenRequest>(&r)) {
                      ++opens;
                      if (open->has_copy) ++opens_with_copy;
                  }
              });
    ::sleep(1);  // a version is copied only once it is over a second old
    ::usleep(100000);
    auto copies = [&] { return sh("test -n \"$(ls -A '" + copies_dir + "')\"") == 0; };

    CHECK(slurp(m.via("ld.so.cache")) == first);  // whole with its open; the bytes are kept
    for (int i = 0; i < 200 && !copies(); ++i) ::usleep(10000);
    REQUIRE(copies());
    CHECK(opens == 1);
    CHECK(opens_with_copy == 0);

    CHECK(slurp(m.via("ld.so.cache")) == first);  // home asked for no bytes: the copy has them
    CHECK(opens == 2);
    CHECK(opens_with_copy == 1);

    // Changed at home, same size: the open still asks for no bytes (the target saw the old
    // version last), and home's answer names the new one, which no copy is of.
    put(m.home("ld.so.cache"), second);
    CHECK(slurp(m.via("ld.so.cache")) == second);
    CHECK(slurp(m.via("ld.so.cache")) == second);
}

TEST_CASE("home_fs: locks taken through the mount hold at home", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    put(m.home("lock"), "");
    put(m.home("ready"), "");
    REQUIRE(::unlink(m.home("ready").c_str()) == 0);
    // A background locker makes "ready" once it holds its lock; one that failed never
    // does: waited for at most 10 s, so that it fails the test instead of hanging it.
    auto locker_ready = [&] {
        for (int i = 0; i < 1000 && ::access(m.home("ready").c_str(), F_OK) != 0; ++i) ::usleep(10'000);
        return ::access(m.home("ready").c_str(), F_OK) == 0;
    };

    SECTION("flock") {
        REQUIRE(sh("flock '" + m.via("lock") + "' sh -c 'touch " + m.home("ready") + "; sleep 2' &") == 0);
        REQUIRE(locker_ready());
        CHECK(sh("flock -n '" + m.home("lock") + "' true") != 0);  // held through the mount
        CHECK(sh("flock -n '" + m.via("lock") + "' true") != 0);
        CHECK(sh("flock -w 10 '" + m.via("lock") + "' true") == 0);  // waits, then gets it
        // The kernel sends the release of a closed file after close(2) returned: home sees
        // the lock go a moment later (docs/remote-exec.md, Locks).
        CHECK(sh("flock -w 5 '" + m.home("lock") + "' true") == 0);
    }
    SECTION("fcntl") {
        std::string holder =
            "python3 -c \"import fcntl, os, time\n"
            "f = open('" + m.via("lock") + "', 'r+')\n"
            "fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)\n"
            "open('" + m.home("ready") + "', 'w').close()\n"
            "time.sleep(2)\" &";
        std::string try_lock = "python3 -c \"import fcntl, sys\n"
                               "f = open(sys.argv[1], 'r+')\n"
                               "try: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2]))\n"
                               "except OSError: sys.exit(1)\" ";
        REQUIRE(sh(holder) == 0);
        REQUIRE(locker_ready());
        CHECK(sh(try_lock + m.home("lock") + " 5") == 1);   // inside the held range, at home
        CHECK(sh(try_lock + m.via("lock") + " 5") == 1);    // and for another process on the mount
        CHECK(sh(try_lock + m.home("lock") + " 20") == 0);  // outside it
        // A blocking request waits through the mount until the holder exits.
        CHECK(sh("python3 -c \"import fcntl; fcntl.lockf(open('" + m.via("lock") +
                 "', 'r+'), fcntl.LOCK_EX, 1, 5)\"") == 0);
        CHECK(sh(try_lock + m.home("lock") + " 5") == 0);
    }
    SECTION("fcntl through a read-only open, dropped by its close") {
        // The kernel sends no FLUSH at the close of a read-only open made before the file
        // was ever locked here; the lock must still go with the close (at its release).
        CHECK(sh("python3 -c \"import fcntl\n"
                 "f = open('" + m.via("lock") + "', 'r')\n"
                 "fcntl.lockf(f, fcntl.LOCK_SH, 10, 0)\n"
                 "f.close()\n"
                 "open('" + m.home("ready") + "', 'w').close()\n"
                 "import time; time.sleep(30)\" & echo $! > '" + m.scratch + "/pid'") == 0);
        // Locked and closed: before that, home would find the file free whatever the mount did.
        REQUIRE(locker_ready());
        std::string exclusive_at_home = "python3 -c \"import fcntl, sys, time\n"
                                        "f = open('" + m.home("lock") + "', 'r+')\n"
                                        "for i in range(500):\n"
                                        "    try: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0); sys.exit(0)\n"
                                        "    except OSError: time.sleep(0.01)\n"
                                        "sys.exit(1)\"";
        CHECK(sh(exclusive_at_home) == 0);  // while the locker still runs
        CHECK(sh("kill $(cat '" + m.scratch + "/pid')") == 0);
    }
}

TEST_CASE("home_fs: a binary that exists only at home runs from the mount", "[fuse][home_fs]") {
    if (!can_mount()) return;
    Mounted m;
    // /usr/bin/env and the libraries it loads, at the same paths under the home root.
    REQUIRE(sh("cd '" + m.root + "' && for f in /usr/bin/env $(ldd /usr/bin/env | grep -o '/[^ ]*'); do "
               "mkdir -p .$(dirname $f) && cp -L $f .$f; done") == 0);
    CHECK(run_in(m.scratch, "'" + m.via("usr/bin/env") + "' echo plain exec", m.scratch + "/o") == "plain exec\n");
    // Chrooted into the mount, the loader and libc come from the mount too.
    CHECK(run_in(m.scratch, "chroot '" + m.mnt + "' /usr/bin/env -i A=1 /usr/bin/env", m.scratch + "/o") == "A=1\n");
}

TEST_CASE("home_fs: measurements", "[.bench][fuse]") {
    if (!can_mount()) return;
    for (double entry_timeout : {0.0, 1.0}) {
        HomeFsOptions o;
        o.entry_timeout = entry_timeout;
        Mounted m(o);
        using clock = std::chrono::steady_clock;
        auto secs = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };

        // One round trip: fstat(2) with attr_timeout 0 is one GETATTR each.
        if (entry_timeout == 0.0) {
            HomeFsOptions uncached;
            uncached.attr_timeout = 0;
            Mounted u(uncached);
            put(u.home("s"), "x");
            int fd = ::open(u.via("s").c_str(), O_RDONLY);
            REQUIRE(fd >= 0);
            struct stat st;
            uint64_t b = u.fs->round_trips();
            auto t = clock::now();
            for (int i = 0; i < 20000; ++i) REQUIRE(::fstat(fd, &st) == 0);
            double us = secs(clock::now() - t) / 20000 * 1e6;
            ::close(fd);
            std::printf("getattr round trip through FUSE + in-process server: %.1f us (%.2f trips per fstat)\n", us,
                        double(u.fs->round_trips() - b) / 20000);
        }

        // Round trip of one cheap op: stat of a file whose attributes are never cached.
        put(m.home("s"), "x");
        int n = 20000;
        uint64_t before = m.fs->round_trips();
        auto t0 = clock::now();
        for (int i = 0; i < n; ++i) {
            int fd = ::open(m.via("s").c_str(), O_RDONLY);
            REQUIRE(fd >= 0);
            ::close(fd);
        }
        double open_close = secs(clock::now() - t0) / n;
        uint64_t trips = m.fs->round_trips() - before;

        // 256 MiB sequential read: from disk directly, then from home's page cache directly
        // and through the mount (whose own page cache is empty), then from the mount's cache.
        REQUIRE(sh("head -c 268435456 /dev/urandom > '" + m.home("big") + "'") == 0);
        auto read_all = [&](const std::string& path) {
            auto t = clock::now();
            REQUIRE(sh("cat '" + path + "' > /dev/null") == 0);
            return 256.0 / secs(clock::now() - t);
        };
        REQUIRE(sh("sync; echo 3 > /proc/sys/vm/drop_caches") == 0);
        double direct_disk_mbs = read_all(m.home("big"));
        double direct_mbs = read_all(m.home("big"));
        double via_mbs = read_all(m.via("big"));
        double via_cached_mbs = read_all(m.via("big"));
        REQUIRE(::unlink(m.home("big").c_str()) == 0);

        // 1000 small files: open, read 4 KiB, close each.
        REQUIRE(sh("mkdir '" + m.home("small") + "' && cd '" + m.home("small") +
                   "' && for i in $(seq 1000); do head -c 4096 /dev/urandom > f$i; done") == 0);
        auto small = [&](const std::string& dir) {
            char buf[4096];
            auto t = clock::now();
            for (int i = 1; i <= 1000; ++i) {
                int fd = ::open((dir + "/small/f" + std::to_string(i)).c_str(), O_RDONLY);
                REQUIRE(fd >= 0);
                REQUIRE(::read(fd, buf, sizeof buf) == 4096);
                ::close(fd);
            }
            return secs(clock::now() - t) / 1000 * 1e6;
        };
        double small_direct = small(m.root);
        before = m.fs->round_trips();
        double small_via_cold = small(m.mnt);
        uint64_t small_trips = m.fs->round_trips() - before;
        double small_via_warm = small(m.mnt);
        std::printf("entry_timeout %.0fs: open+close %.1f us (%.2f round trips), read 256MiB direct from disk "
                    "%.0f MB/s, direct cached %.0f MB/s, mount (home cached) %.0f MB/s, mount cached %.0f MB/s; 4KiB files direct %.1f us, mount cold %.1f us "
                    "(%.1f trips), warm %.1f us\n",
                    entry_timeout, open_close * 1e6, double(trips) / n, direct_disk_mbs, direct_mbs, via_mbs, via_cached_mbs,
                    small_direct, small_via_cold, double(small_trips) / 1000, small_via_warm);
    }
}

TEST_CASE("home_fs: a start's names are primed from the last run's record", "[fuse][home_fs][start_names]") {
    if (!can_mount()) return;
    test::TempDir names_top("remote-names");
    const std::string& names_dir = names_top.path();
    auto options = [&] {
        HomeFsOptions o;
        auto names = StartNames::open(names_dir, 1, 0, "/usr/bin/prog");
        REQUIRE(names.ok());
        o.start_names = *names;
        return o;
    };
    auto fill = [](const std::string& root) {
        REQUIRE(sh("cd '" + root + "' && mkdir -p d1/d2 other spare && echo old > d1/d2/f && echo x > other/x && "
                   "echo y > spare/y && ln -s d1/d2/f ln") == 0);
    };
    auto cat = [](const Mounted& m, const std::string& rel) {
        return run_in(m.scratch, "cat '" + m.via(rel) + "'", m.scratch + "/out");
    };

    // The first run records what it looked up, in order, and which links it read.
    uint64_t unprimed = 0;
    {
        Mounted m(options(), fill);
        uint64_t before = m.fs->round_trips();
        CHECK(cat(m, "ln") == "old\n");
        unprimed = m.fs->round_trips() - before;
        CHECK(cat(m, "other/x") == "x\n");
        CHECK(cat(m, "spare/y") == "y\n");
    }
    auto record = StartNames::open(names_dir, 1, 0, "/usr/bin/prog");
    REQUIRE(record.ok());
    StartNames::Names expected{{"ln", true},     {"d1", false},      {"d1/d2", false}, {"d1/d2/f", false},
                               {"other", false}, {"other/x", false}, {"spare", false}, {"spare/y", false}};
    CHECK((*record)->last() == expected);
    CHECK(StartNames::open(names_dir, 1, 0, "/usr/bin/other").value()->last().empty());  // per program
    CHECK(StartNames::open(names_dir, 1, 1000, "/usr/bin/prog").value()->last().empty());  // per user

    {
        // The next run's names come in one round trip, and the kernel looks them all up
        // at once, before any program asks (walk_primed), each answered here; the link's
        // READLINK is left to the program, answered here too: the same cat makes only its
        // OPEN.
        Mounted m(options(), fill);
        for (int i = 0; i < 200 && !m.fs->primes_walked(); ++i) ::usleep(10'000);
        REQUIRE(m.fs->primes_walked());
        CHECK(m.fs->primed_names() == 0);  // every one taken by a LOOKUP of the kernel's
        CHECK(m.fs->round_trips() == 1);   // the prime's
        uint64_t before = m.fs->round_trips();
        CHECK(cat(m, "ln") == "old\n");
        uint64_t primed = m.fs->round_trips() - before;
        INFO("round trips of the cat: " << unprimed << " unprimed, " << primed << " primed");
        CHECK(primed + 5 == unprimed);  // ln's lookup and link, d1, d2, f

        // A primed name replaced at home since it was primed still reads the new file.
        REQUIRE(sh("cd '" + m.root + "' && echo new > x.tmp && mv x.tmp other/x") == 0);
        CHECK(cat(m, "other/x") == "new\n");
    }
    {
        // A lookup made while the prime is still on its way waits for it, then is answered
        // here, rather than ask home (and wait as long for a link to do so).
        std::atomic<int> lookups_home{0};
        std::atomic<bool> prime_answered{false};
        Mounted m(options(), fill, [&](const FsRequest& r) {
            if (std::holds_alternative<PrimeRequest>(r)) {
                ::usleep(1'000'000);  // long enough that a stall of the test cannot outlast it
                prime_answered = true;
            }
            if (std::holds_alternative<LookupRequest>(r)) ++lookups_home;
        });
        CHECK_FALSE(prime_answered);  // the cat below starts before the prime's reply
        CHECK(cat(m, "ln") == "old\n");
        CHECK(prime_answered);
        CHECK(lookups_home == 0);
    }
    {
        // A primed directory comes with home's word on searching it: a chdir into it (an
        // ACCESS) makes no round trip, once; the next asks home again.
        Mounted m(options(), fill);
        for (int i = 0; i < 200 && !m.fs->primes_walked(); ++i) ::usleep(10'000);
        REQUIRE(m.fs->primes_walked());
        uint64_t before = m.fs->round_trips();
        CHECK(sh("cd '" + m.via("d1/d2") + "'") == 0);
        CHECK(m.fs->round_trips() == before);
        CHECK(sh("cd '" + m.via("d1/d2") + "'") == 0);
        CHECK(m.fs->round_trips() == before + 1);
    }
}
