// libssi/remote/home_file_server: the node and handle tables, without FUSE: hard links
// share a node, a node survives rename and unlink, forget frees it, and POSIX locks of
// different owners conflict while a flush drops exactly its owner's.
#include "libssi/remote/home_file_server.h"

#include "kern-ext/files.h"
#include "kern-ext/namespaces.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

using namespace ssi;
using namespace ssi::remote;

namespace {

struct Server {
    test::TempDir dir{"hfs"};
    const std::string& root = dir.path();
    std::unique_ptr<HomeFileServer> s;
    Server() {
        auto r = HomeFileServer::create(root);
        REQUIRE(r.ok());
        s = std::move(r).value();
    }

    // Through the wire encoding, as the FUSE side sends it.
    template <class Reply>
    Reply ok(const FsRequest& request) {
        auto reply = decode_reply(s->handle(encode_request(request)));
        REQUIRE(reply.ok());
        INFO(request_name(request) << " errno " << reply->err);
        REQUIRE(reply->err == 0);
        REQUIRE(std::holds_alternative<Reply>(reply->body));
        return std::get<Reply>(reply->body);
    }
    int err(const FsRequest& request) {
        auto reply = decode_reply(s->handle(encode_request(request)));
        REQUIRE(reply.ok());
        return reply->err;
    }
};

}  // namespace

TEST_CASE("home_file_server: nodes follow inodes", "[remote][home_file_server]") {
    Server srv;
    auto f = srv.ok<CreateReply>(CreateRequest{kRootNode, "f", 0644, O_WRONLY});
    srv.ok<EmptyReply>(ReleaseRequest{{f.handle}});
    auto link = srv.ok<EntryReply>(LinkRequest{f.entry.node, kRootNode, "g"});
    CHECK(link.node == f.entry.node);  // a hard link is the same node
    CHECK(link.attr.nlink == 2);
    srv.ok<EmptyReply>(RenameRequest{kRootNode, "f", kRootNode, "h", 0});
    CHECK(srv.ok<EntryReply>(LookupRequest{kRootNode, "h"}).node == f.entry.node);
    srv.ok<EmptyReply>(UnlinkRequest{kRootNode, "h"});
    srv.ok<EmptyReply>(UnlinkRequest{kRootNode, "g"});
    CHECK(srv.ok<AttrReply>(GetattrRequest{f.entry.node, 0}).attr.nlink == 0);  // still usable

    CHECK(srv.err(LookupRequest{kRootNode, "h"}) == ENOENT);
    CHECK(srv.err(LookupRequest{kRootNode, ".."}) == EINVAL);  // never above the root
    CHECK(srv.err(LookupRequest{kRootNode, "a/b"}) == EINVAL);
    CHECK(srv.err(GetattrRequest{999, 0}) == ESTALE);
    CHECK(srv.err(ReadRequest{999, 0, 1}) == EBADF);

    CHECK(srv.s->node_count() == 2);
    srv.ok<EmptyReply>(ForgetRequest{{{f.entry.node, 4}}});  // create, link, lookup: 3 (and 1 extra)
    CHECK(srv.s->node_count() == 1);
    CHECK(srv.s->handle_count() == 0);
}

TEST_CASE("home_file_server: reads, writes, directories", "[remote][home_file_server]") {
    Server srv;
    auto d = srv.ok<EntryReply>(MkdirRequest{kRootNode, "d", 0755});
    auto f = srv.ok<CreateReply>(CreateRequest{d.node, "f", 0644, O_RDWR});
    CHECK(srv.ok<WriteReply>(WriteRequest{f.handle, 0, Bytes{'a', 'b', 'c'}}).size == 3);
    CHECK(srv.ok<DataReply>(ReadRequest{f.handle, 1, 100}).data == Bytes{'b', 'c'});
    CHECK(*read_file(srv.root + "/d/f") == "abc");
    srv.ok<AttrReply>(SetattrRequest{f.entry.node, f.handle, kSetSize, 0, 0, 0, 1});
    CHECK(*read_file(srv.root + "/d/f") == "a");
    srv.ok<EmptyReply>(ReleaseRequest{{f.handle}});

    auto dir = srv.ok<OpenReply>(OpendirRequest{d.node});
    auto listing = srv.ok<DirReply>(ReaddirRequest{dir.handle, 0, 4096});
    std::vector<std::string> names;
    for (auto& e : listing.entries) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{".", "..", "f"});
    // Reading again from an entry's offset continues after it.
    CHECK(listing.end);  // three entries: all of it
    auto rest = srv.ok<DirReply>(ReaddirRequest{dir.handle, listing.entries[0].next, 4096});
    CHECK(rest.entries.size() == 2);
    srv.ok<EmptyReply>(ReleasedirRequest{dir.handle});
    CHECK(srv.err(RmdirRequest{kRootNode, "d"}) == ENOTEMPTY);
}

TEST_CASE("home_file_server: readdirplus enters each name as a lookup would", "[remote][home_file_server]") {
    Server srv;
    auto d = srv.ok<EntryReply>(MkdirRequest{kRootNode, "d", 0755});
    for (const char* name : {"a", "b"}) {
        auto c = srv.ok<CreateReply>(CreateRequest{d.node, name, 0644, O_RDWR});
        srv.ok<EmptyReply>(ReleaseRequest{{c.handle}});
        srv.ok<EmptyReply>(ForgetRequest{{{c.entry.node, 1}}});  // only the directory is known now
    }
    const size_t known = srv.s->node_count();
    auto dir = srv.ok<OpenReply>(OpendirRequest{d.node});
    auto listing = srv.ok<DirplusReply>(ReaddirplusRequest{dir.handle, 0, 4096});
    std::map<std::string, DirplusEntryWire> by_name;
    for (auto& e : listing.entries) by_name[e.entry.name] = e;
    REQUIRE(by_name.size() == 4);
    CHECK(by_name["."].node == 0);  // the kernel counts no lookup of these
    CHECK(by_name[".."].node == 0);
    CHECK(srv.s->node_count() == known + 2);
    // The same node a lookup finds, with its attributes; one lookup each to forget.
    auto a = srv.ok<EntryReply>(LookupRequest{d.node, "a"});
    CHECK(a.node == by_name["a"].node);
    CHECK(by_name["a"].attr.ino == a.attr.ino);
    CHECK((by_name["b"].attr.mode & S_IFMT) == S_IFREG);
    srv.ok<EmptyReply>(ForgetRequest{{{a.node, 2}, {by_name["b"].node, 1}}});
    CHECK(srv.s->node_count() == known);
    // Reading again from an entry's offset goes on after it.
    auto first = srv.ok<DirplusReply>(ReaddirplusRequest{dir.handle, 0, 4096});
    auto rest = srv.ok<DirplusReply>(ReaddirplusRequest{dir.handle, first.entries[0].entry.next, 4096});
    CHECK(rest.entries.size() == 3);
    CHECK(rest.end);
    // A listing longer than one reply: the end is said only with its last entries, and
    // none is lost to the look past a reply's last entry.
    for (int i = 0; i < 200; ++i) {
        auto c = srv.ok<CreateReply>(CreateRequest{d.node, "long-name-to-fill-the-buffer-" + std::to_string(i), 0644, O_RDWR});
        srv.ok<EmptyReply>(ReleaseRequest{{c.handle}});
        srv.ok<EmptyReply>(ForgetRequest{{{c.entry.node, 1}}});
    }
    std::set<std::string> seen;
    int64_t offset = 0;
    int replies = 0;
    for (bool end = false; !end; ++replies) {
        REQUIRE(replies < 100);
        auto page = srv.ok<DirplusReply>(ReaddirplusRequest{dir.handle, offset, 4096});
        REQUIRE_FALSE(page.entries.empty());
        for (auto& e : page.entries) {
            seen.insert(e.entry.name);
            if (e.node) srv.ok<EmptyReply>(ForgetRequest{{{e.node, 1}}});
        }
        offset = page.entries.back().entry.next;
        end = page.end;
    }
    CHECK(replies > 1);
    CHECK(seen.size() == 204);  // ., .., a, b and the 200
    CHECK(srv.ok<DirplusReply>(ReaddirplusRequest{dir.handle, offset, 4096}).entries.empty());
    srv.ok<EmptyReply>(ReleasedirRequest{dir.handle});
}

TEST_CASE("home_file_server: a cached name is checked at home after news of its directory", "[remote][home_file_server]") {
    Server srv;
    REQUIRE(make_dirs(srv.root + "/a/b", 0755).ok());
    REQUIRE(write_file_atomic(srv.root + "/a/b/f", "f", 0644).ok());
    REQUIRE(write_file_atomic(srv.root + "/a/b/g", "g", 0644).ok());
    auto a = srv.ok<EntryReply>(LookupRequest{kRootNode, "a"});
    auto b = srv.ok<EntryReply>(LookupRequest{a.node, "b"});
    auto f = srv.ok<EntryReply>(LookupRequest{b.node, "f"});
    auto g = srv.ok<EntryReply>(LookupRequest{b.node, "g"});

    // The first use checks the path's three names; a quiet path costs no fstatat after that.
    srv.ok<EmptyReply>(AccessRequest{f.node, R_OK});
    const uint64_t checked = srv.s->name_checks();
    CHECK(checked >= 3);
    srv.ok<EmptyReply>(AccessRequest{f.node, R_OK});
    srv.ok<AttrReply>(GetattrRequest{f.node, 0});
    CHECK(srv.s->name_checks() == checked);

    // News of b (a file created in it) brings a check of the names in b, which still hold.
    REQUIRE(write_file_atomic(srv.root + "/a/b/h", "h", 0644).ok());
    srv.ok<EmptyReply>(AccessRequest{f.node, R_OK});
    CHECK(srv.s->name_checks() > checked);

    // g, checked once, then replaced at home: its node's name no longer leads to it.
    srv.ok<EmptyReply>(AccessRequest{g.node, R_OK});
    REQUIRE(write_file_atomic(srv.root + "/a/b/g", "new g", 0644).ok());
    CHECK(srv.err(AccessRequest{g.node, R_OK}) == ESTALE);
    // a renamed at home and another a/b/f made: the old path's names are stale from the top.
    REQUIRE(::rename((srv.root + "/a").c_str(), (srv.root + "/a.old").c_str()) == 0);
    REQUIRE(make_dirs(srv.root + "/a/b", 0755).ok());
    REQUIRE(write_file_atomic(srv.root + "/a/b/f", "other f", 0644).ok());
    CHECK(srv.err(AccessRequest{f.node, R_OK}) == ESTALE);
    // Looked up again, the names lead to the new files.
    auto a2 = srv.ok<EntryReply>(LookupRequest{kRootNode, "a"});
    CHECK(a2.node != a.node);
}

// A mount over a name changes where it leads without news of any directory: the mount
// table's news makes every name be checked again. In a child with its own mount namespace.
TEST_CASE("home_file_server: a mount at home over a cached name", "[remote][home_file_server]") {
    Server srv;
    REQUIRE(make_dirs(srv.root + "/d", 0755).ok());
    REQUIRE(make_dirs(srv.root + "/other", 0755).ok());
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (!unshare_namespaces(CLONE_NEWNS).ok() || !make_mounts_private().ok()) ::_exit(10);
        auto server = HomeFileServer::create(srv.root);
        if (!server.ok()) ::_exit(11);
        auto ask = [&](const FsRequest& r) { return decode_reply((*server)->handle(encode_request(r))); };
        auto d = ask(LookupRequest{kRootNode, "d"});
        if (!d.ok() || d->err != 0) ::_exit(12);
        const uint64_t node = std::get<EntryReply>(d->body).node;
        for (int i = 0; i < 2; ++i)
            if (auto r = ask(AccessRequest{node, R_OK}); !r.ok() || r->err != 0) ::_exit(13);
        if (!bind_mount(srv.root + "/other", srv.root + "/d").ok()) ::_exit(14);
        auto r = ask(AccessRequest{node, R_OK});
        ::_exit(r.ok() && r->err == ESTALE ? 0 : 15);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("home_file_server: POSIX locks per owner, dropped by the owner's flush", "[remote][home_file_server]") {
    Server srv;
    auto f = srv.ok<CreateReply>(CreateRequest{kRootNode, "lock", 0644, O_RDWR});
    uint64_t node = f.entry.node;
    Lock whole{F_WRLCK, 0, 0, 0};
    srv.ok<EmptyReply>(SetlkRequest{node, f.handle, /*owner=*/1, whole});
    srv.ok<EmptyReply>(SetlkRequest{node, f.handle, 1, whole});  // re-lock by the same owner
    CHECK(srv.err(SetlkRequest{node, f.handle, 2, Lock{F_RDLCK, 5, 1, 0}}) == EAGAIN);
    CHECK(srv.ok<LockReply>(GetlkRequest{node, f.handle, 2, Lock{F_RDLCK, 5, 1, 0}}).lock.type == F_WRLCK);
    CHECK(srv.ok<LockReply>(GetlkRequest{node, f.handle, 1, Lock{F_RDLCK, 5, 1, 0}}).lock.type == F_UNLCK);

    srv.ok<EmptyReply>(FlushRequest{node, f.handle, 2});  // another owner's close: no effect
    CHECK(srv.err(SetlkRequest{node, f.handle, 2, whole}) == EAGAIN);
    srv.ok<EmptyReply>(FlushRequest{node, f.handle, 1});
    srv.ok<EmptyReply>(SetlkRequest{node, f.handle, 2, whole});

    auto g = srv.ok<OpenReply>(OpenRequest{node, O_RDONLY});
    srv.ok<EmptyReply>(FlockRequest{f.handle, LOCK_EX});
    CHECK(srv.err(FlockRequest{g.handle, LOCK_SH}) == EWOULDBLOCK);
    srv.ok<EmptyReply>(ReleaseRequest{{f.handle}});  // closing the description drops the flock
    srv.ok<EmptyReply>(FlockRequest{g.handle, LOCK_SH});
    srv.ok<EmptyReply>(ReleaseRequest{{g.handle}});
}

TEST_CASE("home_file_server: what comes whole: small files, mid-sized data, young programs",
          "[remote][home_file_server]") {
    constexpr int64_t kNow = 1'800'000'000'000'000'000;
    auto file = [](mode_t mode, off_t size, int64_t changed_ns) {
        struct stat st {};
        st.st_mode = S_IFREG | mode;
        st.st_size = size;
        st.st_ctim.tv_sec = time_t(changed_ns / 1'000'000'000);
        st.st_ctim.tv_nsec = long(changed_ns % 1'000'000'000);
        return st;
    };
    const int64_t settled = kNow - kYoungFileNs - 1, young = kNow - kYoungFileNs / 2;
    CHECK(comes_whole(file(0755, 0, settled), kNow));
    CHECK(comes_whole(file(0755, kOpenWholeBytes, settled), kNow));
    // Data up to the limit, settled or not; nothing bigger.
    CHECK(comes_whole(file(0644, kOpenWholeMaxBytes, settled), kNow));
    CHECK_FALSE(comes_whole(file(0644, kOpenWholeMaxBytes + 1, young), kNow));
    // A settled program or library is the target's copy to serve; a young one has none yet.
    CHECK_FALSE(comes_whole(file(0755, kOpenWholeBytes + 1, settled), kNow));
    CHECK_FALSE(comes_whole(file(0744, kOpenWholeMaxBytes, settled), kNow));
    CHECK(comes_whole(file(0755, kOpenWholeBytes + 1, young), kNow));
    struct stat dir = file(0755, 10, settled);
    dir.st_mode = S_IFDIR | 0755;
    CHECK_FALSE(comes_whole(dir, kNow));
}

TEST_CASE("home_file_server: a small file comes whole with a read-only open, its READs in place",
          "[remote][home_file_server]") {
    Server srv;
    std::string small(5000, '\0'), big(kOpenWholeMaxBytes + 1, 'b');
    for (size_t i = 0; i < small.size(); ++i) small[i] = static_cast<char>(i % 251);
    REQUIRE(write_file_atomic(srv.root + "/small", small, 0644).ok());
    REQUIRE(write_file_atomic(srv.root + "/empty", "", 0644).ok());
    REQUIRE(write_file_atomic(srv.root + "/big", big, 0644).ok());
    auto open = [&](const char* name, int flags) {
        auto node = srv.ok<EntryReply>(LookupRequest{kRootNode, name}).node;
        return srv.ok<OpenReply>(OpenRequest{node, flags});
    };
    auto s = open("small", O_RDONLY);
    CHECK(s.has_whole);
    CHECK(std::string(s.whole.begin(), s.whole.end()) == small);
    auto e = open("empty", O_RDONLY);
    CHECK(e.has_whole);
    CHECK(e.whole.empty());
    CHECK_FALSE(open("big", O_RDONLY).has_whole);
    CHECK_FALSE(open("small", O_RDWR).has_whole);
    // Nor when the target has a copy of it: the reply's version tells which.
    auto node = srv.ok<EntryReply>(LookupRequest{kRootNode, "small"});
    CHECK(node.attr.dev != 0);
    auto copied = srv.ok<OpenReply>(OpenRequest{node.node, O_RDONLY, true});
    CHECK_FALSE(copied.has_whole);
    CHECK(copied.dev == node.attr.dev);

    // READs of the open file, through the reply the server keeps across requests.
    std::string kept;
    auto read = [&](uint64_t handle, int64_t offset, uint32_t size) {
        srv.s->handle(encode_request(ReadRequest{handle, offset, size}), kept);
        auto view = decode_data_reply(kept);
        REQUIRE(view.ok());
        REQUIRE(view->err == 0);
        return std::string(view->data.data(), view->data.size());
    };
    auto b = open("big", O_RDONLY);
    CHECK(read(b.handle, 0, kMaxIo) == big);
    CHECK(read(s.handle, 100, 10) == small.substr(100, 10));  // a shorter reply in the same buffer
    CHECK(read(s.handle, 4990, 4096) == small.substr(4990));   // short: end of file
    CHECK(read(s.handle, 6000, 4096).empty());
    srv.s->handle(encode_request(ReadRequest{999, 0, 1}), kept);
    CHECK(decode_data_reply(kept)->err == EBADF);
}

// The prime tells, per directory, whether the server's user may search it (the start's
// chdir asks that, an ACCESS). Checked as a user other than root, who may search anything.
TEST_CASE("home_file_server: a prime says which directories its user may search", "[remote][home_file_server]") {
    test::TempDir dir{"hfs-search"};
    const std::string& root = dir.path();
    REQUIRE(::chmod(root.c_str(), 0755) == 0);
    REQUIRE(::mkdir((root + "/open").c_str(), 0755) == 0);
    REQUIRE(::mkdir((root + "/closed").c_str(), 0700) == 0);
    REQUIRE(write_file_atomic(root + "/open/f", "x", 0644).ok());
    const PrimeRequest prime{{{"open", false}, {"open/f", false}, {"closed", false}}};
    // Bit i: the i-th name came back searchable, bit 3: the root; 0x80: the prime did not
    // come back whole.
    auto searchable_bits = [&](size_t names) -> int {
        auto server = HomeFileServer::create(root);
        if (!server) return 0x80;
        auto reply = decode_reply((*server)->handle(encode_request(prime)));
        auto* primed = reply && reply->err == 0 ? std::get_if<PrimeReply>(&reply->body) : nullptr;
        if (!primed || primed->names.size() != names) return 0x80;
        int bits = primed->root_searchable ? 1 << 3 : 0;
        for (size_t i = 0; i < names; ++i) bits |= primed->names[i].searchable ? 1 << i : 0;
        return bits;
    };
    auto as_nobody = [&](size_t names) -> int {
        pid_t child = ::fork();
        if (child < 0) return -1;
        if (child == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(0x40);
            ::_exit(searchable_bits(names));
        }
        int status = 0;
        if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
        return WEXITSTATUS(status);
    };
    CHECK(searchable_bits(3) == 0b1101);  // root: the root and both directories, never the file
    CHECK(as_nobody(3) == 0b1001);        // nobody: "closed" is root's, 0700
    // A root nobody may not search: no name under it resolves, and the root is not primed.
    REQUIRE(::chmod(root.c_str(), 0700) == 0);
    CHECK(as_nobody(0) == 0);
    REQUIRE(::chmod(root.c_str(), 0755) == 0);
}
