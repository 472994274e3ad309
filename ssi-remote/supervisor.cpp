#include "ssi-remote/supervisor.h"

#include "ssi-remote/file_cache.h"
#include "ssi-remote/start_names.h"

#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/namespaces.h"
#include "kern-ext/proc_status.h"
#include "kern-ext/process.h"
#include "kern-ext/terminal.h"
#include "libssi/keys.h"
#include "libssi/remote/session.h"
#include "libssi/wire/codec.h"

#include <signal.h>
#include <sched.h>
#include <unistd.h>

#include <zmq_addon.hpp>

#include <chrono>
#include <tuple>
#include <cstdio>
#include <cstdlib>

namespace ssi::remote {
namespace {

using clock = std::chrono::steady_clock;

int ms_since(clock::time_point t) {
    return int(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
}

// The termios the deputy's terminal had, for the program's pty.
termios home_terminal_attributes(const wire::TerminalSpec& term) {
    termios t{};
    t.c_iflag = tcflag_t(term.iflag);
    t.c_oflag = tcflag_t(term.oflag);
    t.c_cflag = tcflag_t(term.cflag);
    t.c_lflag = tcflag_t(term.lflag);
    for (size_t i = 0; i < term.cc.size() && i < NCCS; ++i) t.c_cc[i] = cc_t(term.cc[i]);
    if (term.ispeed) ::cfsetispeed(&t, speed_t(term.ispeed));
    if (term.ospeed) ::cfsetospeed(&t, speed_t(term.ospeed));
    return t;
}

}  // namespace

Supervisor::Supervisor(zmq::context_t& context, wire::RunRequest spec, int32_t self_node, std::string runs_dir,
                       SpareStart spare)
    : spec_(std::move(spec)), self_node_(self_node), runs_dir_(std::move(runs_dir)), context_(context),
      mountpoint_(std::exchange(spare.mountpoint, {})), reaper_(std::exchange(spare.reaper, std::nullopt)),
      fs_(std::move(spare.fs)), cache_(std::move(spare.cache)) {
    keys_.endpoint = spec_.deputy_endpoint;
    keys_.server_public = spec_.deputy_public_key;
    keys_.client_secret = spec_.session_secret_key;
    keys_.client_public = public_key_of(spec_.session_secret_key).value_or("");
    keys_.files_port = uint16_t(spec_.deputy_files_port);
}

Supervisor::~Supervisor() {
    end_program();  // kills whatever is left of it
    // A reaper never launched holds the mount in its namespace, maybe from inside a lookup
    // (SpareStart's destructor says why this order).
    if (fs_) fs_->fail_unserved();
    reaper_.reset();
    if (fs_) fs_->unmount();
    if (!mountpoint_.empty()) ::rmdir(mountpoint_.c_str());
}

// The threads that use the program stop first; then the namespace is killed.
void Supervisor::end_program() {
    dispatch_.stop();
    sockets_.reset();  // after the dispatch, which posts to it; it answers through the dispatch's listener
    if (children_) children_->stop();
    program_.reset();
}

void Supervisor::send_control(const wire::Message& message) {
    std::string bytes = wire::encode(wire::Envelope{0, message});
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(&kControlKind, 1), zmq::buffer(bytes)};
    try {
        zmq::send_multipart(control_, frames);
    } catch (const zmq::error_t&) {
    }
}

namespace {

// The home files are mounted in a mount namespace of our own: nobody else on this node
// sees them, and they vanish with us.
Result<void> enter_own_mount_namespace() {
    TRY(unshare_namespaces(CLONE_NEWNS));
    return make_mounts_private("/");
}

}  // namespace

namespace {

std::string mountpoint_of_this_run() { return "/run/ssi/remote-" + std::to_string(::getpid()); }

// Where the node's file cache lives: next to the agent's socket, beside runs_dir.
std::string node_dir_of(const std::string& runs_dir) { return runs_dir.substr(0, runs_dir.rfind('/')); }

Result<std::shared_ptr<FileCache>> open_file_cache(const std::string& runs_dir, uint64_t bytes) {
    return FileCache::open(node_dir_of(runs_dir) + "/file-cache", bytes);
}

}  // namespace

SpareStart Supervisor::prepare_spare(const std::string& runs_dir) {
    SpareStart spare;
    auto say = [](const char* what, const Error& e) {
        std::fprintf(stderr, "ssi-remote: %s at the run (%s)\n", what, e.message().c_str());
    };
    if (auto entered = enter_own_mount_namespace(); !entered) {
        say("the mount namespace is made", entered.error());
        return spare;
    }
    std::string mountpoint = mountpoint_of_this_run();
    if (auto made = make_dirs(mountpoint, 0755); !made) {
        say("the mount is made", made.error());
    } else {
        spare.mountpoint = mountpoint;
        auto fs = HomeFs::mount_unserved(mountpoint, false, mounted_over(root_of(mountpoint, runs_dir)));
        if (fs) spare.fs = std::move(*fs);
        else say("the mount is made", fs.error());
    }
    // Forked with the mount there to copy, and before any thread of ours.
    std::optional<ReaperRoot> root;
    if (spare.fs) root = root_of(mountpoint, runs_dir);
    if (auto reaper = RemoteProcess::prepare(std::move(root))) spare.reaper = std::move(*reaper);
    else say("the reaper is forked", reaper.error());
    // Its INIT answered and its threads made now: the run's first lookup waited for both.
    if (spare.fs) spare.fs->start_loop();
    if (!runs_dir.empty()) {
        if (auto cache = open_file_cache(runs_dir, kFileCacheBytes)) spare.cache = std::move(*cache);
        else say("the file cache is opened", cache.error());
    }
    return spare;
}

SpareStart::~SpareStart() {
    // The reaper first: its namespace holds the mount, which the unmount waits to let go.
    // It waits in a lookup the loop read, which only an answer ends.
    if (fs) fs->fail_unserved();
    reaper.reset();
    if (fs) fs->unmount();
    if (!mountpoint.empty()) ::rmdir(mountpoint.c_str());
}

ReaperRoot Supervisor::root_of(const std::string& mountpoint, const std::string& runs_dir) {
    ReaperRoot root{mountpoint, {{"/dev", "/dev"}, {"/sys", "/sys"}}, {}};
    // The ssi tools the program runs talk to the agent of the node it runs on (the table
    // in /dev/shm comes with /dev): its socket is bound over home's, if home has one.
    // Looked for by the reaper itself, inside the root.
    if (!runs_dir.empty()) {
        std::string socket = node_dir_of(runs_dir) + "/agent.sock";
        root.optional_binds.push_back({socket, socket});
    }
    return root;
}

std::vector<std::string> Supervisor::mounted_over(const ReaperRoot& root) {
    std::vector<std::string> names{"proc"};  // enter_root mounts one there always
    for (const auto& [host, target] : root.binds) {
        auto first = target.find_first_not_of('/');
        if (first == std::string::npos) continue;
        std::string name = target.substr(first);
        if (name.find('/') == std::string::npos && std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(std::move(name));
    }
    return names;
}

// The home file view's options: this node's copies of home files live next to the
// agent's socket (file_cache.h), shared by the runs here.
HomeFsOptions Supervisor::file_view_options() {
    HomeFsOptions options;
    options.mounted_over = mounted_over(root_of(mountpoint_, runs_dir_));
    options.home = spec_.home;
    options.uid = spec_.uid;  // from the home agent, not the deputy
    if (runs_dir_.empty()) return options;
    const std::string node_dir = node_dir_of(runs_dir_);
    if (cache_) options.cache = std::move(cache_);
    else if (auto cache = open_file_cache(runs_dir_, kFileCacheBytes)) options.cache = std::move(*cache);
    else std::fprintf(stderr, "ssi-remote: no file cache (%s)\n", cache.error().message().c_str());
    // A program's start (not a process moving here: it has started).
    const std::string program = !spec_.program.empty() ? spec_.program : spec_.argv.empty() ? "" : spec_.argv[0];
    if (spec_.restore_image.empty() && !program.empty()) {
        if (auto names = StartNames::open(node_dir + "/start-names", spec_.home, spec_.uid, program))
            options.start_names = std::move(*names);
        else
            std::fprintf(stderr, "ssi-remote: no start names (%s)\n", names.error().message().c_str());
    }
    return options;
}

// First of a run: the reaper's first lookup waits for the start's prime, which goes out
// as the files are served — ahead of ZeroMQ's control connection, whose socket and CURVE
// set-up took ~0.15 ms.
Result<void> Supervisor::serve_files() {
    files_ = std::make_shared<FsTransport>(keys_);
    HomeFs::Transport to_deputy = [files = files_](const std::string& req) { return files->call(req); };
    if (fs_) {
        fs_->serve(std::move(to_deputy), file_view_options());
    } else {
        // Not made while spare: a reaper forked now is forked in the namespace it makes.
        if (!reaper_) TRY(enter_own_mount_namespace());
        if (mountpoint_.empty()) {
            TRY(make_dirs(mountpoint_of_this_run(), 0755));
            mountpoint_ = mountpoint_of_this_run();
        }
        fs_ = TRY(HomeFs::mount(mountpoint_, std::move(to_deputy), file_view_options()));
    }
    return ok();
}

Result<void> Supervisor::start_program() {
    // Pipes for stdio, or the pty for those the deputy has on its terminal.
    const wire::TerminalSpec& term = spec_.terminal;
    std::optional<Pty> pty;
    if (term.enabled) {
        pty = TRY(Pty::open());
        TRY(set_terminal_attributes(pty->slave(), home_terminal_attributes(term)));
        if (term.rows && term.cols) TRY(set_terminal_size(pty->slave(), {term.rows, term.cols}));
    }
    // Those that are the null device at home are this node's: nothing to relay for them.
    auto null = [&](int fd) { return (spec_.null_stdio >> fd) & 1; };
    UniqueFd in_read, in_write, out_read, out_write, err_read, err_write;
    if (!term.enabled && !null(0)) std::tie(in_read, in_write) = TRY(make_pipe());
    if ((!term.stdout_tty || !term.enabled) && !null(1)) std::tie(out_read, out_write) = TRY(make_pipe());
    if ((!term.stderr_tty || !term.enabled) && !null(2)) std::tie(err_read, err_write) = TRY(make_pipe());
    for (const UniqueFd* end : {&in_write, &out_read, &err_read})
        if (*end) (void)set_pipe_capacity(end->get(), int(kOutputChunkBytes));  // a smaller pipe still works
    auto source = [&](const UniqueFd& pipe_end, int fd) {
        return pipe_end ? pipe_end.get() : null(fd) ? -1 : pty->slave();  // -1: the launch opens /dev/null
    };
    LaunchSpec launch;
    ReaperRoot root = root_of(mountpoint_, runs_dir_);
    launch.root = std::move(root.root);
    launch.binds = std::move(root.binds);
    launch.optional_binds = std::move(root.optional_binds);
    launch.cwd = spec_.cwd;
    launch.argv = spec_.argv;
    launch.env = spec_.env;
    launch.program = spec_.program.empty() ? spec_.argv[0] : spec_.program;
    launch.uid = spec_.uid;
    launch.gid = spec_.gid;
    launch.groups.assign(spec_.groups.begin(), spec_.groups.end());
    launch.umask = mode_t(spec_.umask);
    for (const auto& [resource, limit] : spec_.rlimits)
        launch.rlimits.push_back({resource, rlimit{rlim_t(limit.first), rlim_t(limit.second)}});
    launch.pid = spec_.pid;
    launch.ppid = spec_.ppid;
    launch.stdin_fd = source(in_read, 0);
    launch.stdout_fd = source(out_write, 1);
    launch.stderr_fd = source(err_write, 2);
    launch.hostname = spec_.hostname;
    launch.controlling_terminal = term.enabled;
    launch.park = !spec_.restore_image.empty();
    // Its children get home PIDs of their own (children.h): process creation is intercepted.
    std::string runs_file = runs_dir_.empty() ? "" : runs_dir_ + "/" + std::to_string(::getpid());
    children_ = std::make_unique<Children>(context_, keys_, runs_file);
    children_->add_rules(dispatch_, pid_t(spec_.pid));
    // Its TCP sockets are home's (socket_calls.h): socket calls are intercepted.
    TRY(start_sockets());
    launch.syscall_rules = dispatch_.rules();
    if (in_read) stdin_reader_ = TRY(duplicate_fd_cloexec(in_read.get()));
    // Leaving home, only the image's head comes before the resume: it is asked for before
    // the launch, and the links' handshakes and its few kilobytes overlap it.
    std::optional<ImageFetch> head;
    if (launch.park && spec_.lazy_memory) {
        postcopy_ = std::make_unique<PostCopy>(context_, keys_);
        head = TRY(ImageFetch::open(context_, keys_, 'H'));
    }
    program_ = reaper_ ? TRY(RemoteProcess::launch(launch, std::move(*std::exchange(reaper_, std::nullopt))))
                       : TRY(RemoteProcess::launch(launch));
    // A migrating process: rebuilt in the parked one, resumed when its deputy says so.
    if (launch.park) TRY(restore_program(std::move(head)));
    stdin_ = std::move(in_write);
    stdout_ = std::move(out_read);
    stderr_ = std::move(err_read);
    if (stdin_) TRY(set_nonblocking(stdin_.get()));
    if (pty) {
        // Only the program holds the slave now: its last close shows here as EIO.
        pty->close_slave();
        pty_slave_path_ = pty->slave_path();
        pty_ = pty->take_master();
        TRY(set_nonblocking(pty_.get()));
    }
    // The stub's reports: the program's stops (on a terminal) and its end, which comes
    // before its namespace has finished going away.
    watch_changes_ = true;
    // The agent lists the program under its home identity, and hides its helpers.
    pid_t program = program_->program_pid();
    pid_t stub = read_process_identity(program).value_or(ProcessIdentity{}).ppid;
    std::string pids = std::to_string(program_->reaper_pid()) + " " + std::to_string(stub) + " " +
                       std::to_string(program) + "\n";
    if (!runs_file.empty()) (void)write_file_atomic(runs_file, pids, 0644);
    if (postcopy_) children_->hold_creations_until([this] { postcopy_->wait(); });
    children_->start(*program_, pid_t(spec_.pid), pids);
    TRY(dispatch_.start(program_->take_syscall_listener()));
    return ok();
}

void Supervisor::finish(const wire::ProgramExited& how) {
    send_control(how);
    // The deputy exits on this news: what its file server holds closes with it.
    if (files_) files_->abandon();
    await_last_word_received();
}

bool Supervisor::take_control_drops() {
    bool dropped = false;
    std::vector<zmq::message_t> event;
    try {
        while (zmq::recv_multipart(control_monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) {
            dropped = true;
            event.clear();
        }
    } catch (const zmq::error_t&) {
    }
    deputy_dropped_ = deputy_dropped_ || dropped;
    return dropped;
}

// Reads what the deputy sends until it says our last word has arrived
// (wire::LastWordReceived says why), its connection drops (it has gone: nobody is left to
// tell), or for the silence limit. Only in that last case do our queued messages get a
// linger to leave in: after the first two, closing need not wait for anyone.
void Supervisor::await_last_word_received() {
    const auto start = clock::now();
    for (int left = kSilenceLimitMs; left > 0 && !deputy_dropped_; left = kSilenceLimitMs - ms_since(start)) {
        zmq::pollitem_t items[] = {{control_.handle(), 0, ZMQ_POLLIN, 0}, {control_monitor_.handle(), 0, ZMQ_POLLIN, 0}};
        try {
            if (zmq::poll(items, 2, std::chrono::milliseconds(left)) == 0) break;
            std::vector<zmq::message_t> frames;
            while (zmq::recv_multipart(control_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
                if (frames.size() == 2 && frames[0].size() == 1 && *frames[0].data<char>() == kControlKind)
                    if (auto e = wire::decode(std::span(frames[1].data<char>(), frames[1].size()));
                        e && std::holds_alternative<wire::LastWordReceived>(e->body))
                        return;
                frames.clear();
            }
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) return;
        }
        take_control_drops();
    }
    if (!deputy_dropped_) control_.set(zmq::sockopt::linger, 5000);
}

void Supervisor::run() {
    Result<void> files = serve_files();
    try {
        control_ = connect_to_deputy(context_, keys_);
        // Told when the deputy's connection drops: its process has gone, or the network.
        control_monitor_ = zmq::socket_t(context_, zmq::socket_type::pair);
        if (zmq_socket_monitor(control_.handle(), "inproc://ssi-remote-control", ZMQ_EVENT_DISCONNECTED) == 0)
            control_monitor_.connect("inproc://ssi-remote-control");
    } catch (const zmq::error_t& e) {
        std::fprintf(stderr, "ssi-remote: cannot reach the deputy: %s\n", e.what());
        return;
    }
    send_control(wire::SessionHello{self_node_});
    if (auto started = files ? start_program() : files; !started) {
        wire::ProgramExited failed;
        failed.exit_code = exec_failure_shell_status(started.error()).value_or(kDeputyFailureStatus);
        std::string program = spec_.argv.empty() ? "" : spec_.argv[0];
        failed.error = program + ": " + (started.error().err ? std::strerror(started.error().err) : started.error().message());
        if (!exec_failure_shell_status(started.error())) failed.error = "on node " + std::to_string(self_node_) + ": " + started.error().message();
        // Home's ssi-run and our ssi-remote from different builds (a node updated before
        // the other): every file request fails alike, and its EIO alone would not say why.
        if (std::string why = fs_ ? fs_->undecodable_reply() : ""; !why.empty())
            failed.error = "on node " + std::to_string(self_node_) + ": home's ssi-run answers file requests in a form this node cannot read (" + why +
                           "); do both nodes run the same ssi version? (" + started.error().message() + ")";
        if (!spec_.restore_image.empty()) failed.exit_code = kDeputyFailureStatus;
        finish(failed);
        return;
    }
    relay();
    if (moved_away_) {
        // It runs elsewhere now (or is on its way): there is no end to report.
        await_last_word_received();
        return;
    }
    wire::ProgramExited how;
    if (program_) {
        auto reported = program_->reported_exit();
        auto status = reported ? Result<ProgramExit>(*reported) : program_->wait();
        // Its sockets' last bytes reach home before the news of its end.
        if (sockets_) (void)sockets_->finish(kSocketFlushMs);
        how.input_received = stdin_received_;
        how.unread_input = take_unread_input();
        if (status) {
            how.exit_code = status->signaled ? -1 : status->code;
            how.signal = status->signaled ? status->signal : 0;
            how.core_dumped = status->core_dumped;
        } else {
            how.exit_code = kDeputyFailureStatus;
            how.error = "on node " + std::to_string(self_node_) + ": " + status.error().message();
        }
    } else {
        how.exit_code = kDeputyFailureStatus;
        how.error = "the program was ended on node " + std::to_string(self_node_) + " after its deputy went silent";
    }
    finish(how);
}

}  // namespace ssi::remote
