// The socket protocol of remote execution: how a supervisor (on the target) has the
// deputy (at home) hold the program's TCP sockets, and its Unix stream sockets named in
// the home filesystem, and how their bytes travel. The deputy owns the real socket; the
// program holds one end of a Unix socket pair whose other end the supervisor relays
// (docs/remote-exec.md, "Sockets"). One struct per message; socket_protocol.cpp is the
// one place that turns them into bytes and back.
//
// Sockets are named by ids: odd ones chosen by the supervisor (socket()), even ones by the
// deputy (connections it accepted). Calls carry a `call` number the reply repeats.
// Bytes flow under a window each way: a side sends Data only while fewer than kSocketWindow
// bytes it sent are unacknowledged, and acknowledges (Ack) what it has handed on to its
// own descriptor, so neither side ever holds more than a window per socket.
//
// Wire form: [version, message type, body]. Adding a field: append it, bump the version.
#pragma once

#include "kern-ext/result.h"

#include <msgpack.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace ssi::remote {

inline constexpr char kSocketKind = 'S';
inline constexpr uint32_t kSocketProtocolVersion = 2;  // 2: AF_UNIX streams
inline constexpr uint32_t kSocketChunkBytes = 256 * 1024;
inline constexpr uint64_t kSocketWindow = 4 * 1024 * 1024;
inline constexpr size_t kMaxSocketMessageBytes = kSocketChunkBytes + 4096;
// Connections a deputy accepts for a listener before the program has taken them.
inline constexpr int kAcceptAhead = 16;

using SocketBytes = std::vector<char>;  // packed as MessagePack bin

// ---- supervisor -> deputy: calls (each answered by one SockReply) -----------------------
struct SockOpen { uint64_t call = 0, sock = 0; int32_t family = 0, type = 0, protocol = 0; MSGPACK_DEFINE_ARRAY(call, sock, family, type, protocol) };
// Answered once the connection is made or has failed.
struct SockConnect { uint64_t call = 0, sock = 0; SocketBytes addr; MSGPACK_DEFINE_ARRAY(call, sock, addr) };
// `umask`: the program's, for the file a Unix socket's bind makes at home.
struct SockBind { uint64_t call = 0, sock = 0; SocketBytes addr; uint32_t umask = 022; MSGPACK_DEFINE_ARRAY(call, sock, addr, umask) };
struct SockListen { uint64_t call = 0, sock = 0; int32_t backlog = 0; MSGPACK_DEFINE_ARRAY(call, sock, backlog) };
// getsockname (peer false) or getpeername (peer true): the address in the reply's data.
struct SockName { uint64_t call = 0, sock = 0; bool peer = false; MSGPACK_DEFINE_ARRAY(call, sock, peer) };
struct SockSetOpt { uint64_t call = 0, sock = 0; int32_t level = 0, name = 0; SocketBytes value; MSGPACK_DEFINE_ARRAY(call, sock, level, name, value) };
struct SockGetOpt { uint64_t call = 0, sock = 0; int32_t level = 0, name = 0; uint32_t size = 0; MSGPACK_DEFINE_ARRAY(call, sock, level, name, size) };

// ---- both ways: the stream ---------------------------------------------------------------
struct SockData { uint64_t sock = 0; SocketBytes bytes; MSGPACK_DEFINE_ARRAY(sock, bytes) };
// `bytes` of the other side's Data are now in the receiver's descriptor.
struct SockAck { uint64_t sock = 0; uint64_t bytes = 0; MSGPACK_DEFINE_ARRAY(sock, bytes) };
// No more data from the sender (after all its Data): shutdown(SHUT_WR) on the far side.
// err != 0: the connection failed (ECONNRESET...); the receiver closes its side.
struct SockEof { uint64_t sock = 0; int32_t err = 0; MSGPACK_DEFINE_ARRAY(sock, err) };

// ---- supervisor -> deputy ---------------------------------------------------------------
// The program has closed it: the deputy closes the real socket (after sending what it holds).
struct SockClose { uint64_t sock = 0; MSGPACK_DEFINE_ARRAY(sock) };
// The program took one of the listener's accepted connections: the deputy may accept another.
struct SockTaken { uint64_t listener = 0; MSGPACK_DEFINE_ARRAY(listener) };
// The program has ended and every socket of it was closed (SockClose sent before this): the
// deputy sends what it still holds, then may exit. It travels on the socket connection, so
// it comes after the sockets' last data, which the control connection's ProgramExited may not.
struct SockDone { MSGPACK_DEFINE_ARRAY() };

// ---- deputy -> supervisor ---------------------------------------------------------------
struct SockReply { uint64_t call = 0; int32_t err = 0; SocketBytes data; MSGPACK_DEFINE_ARRAY(call, err, data) };
// A connection the listener accepted at home, as socket `sock`; peer is its address.
struct SockAccepted { uint64_t listener = 0, sock = 0; SocketBytes peer; MSGPACK_DEFINE_ARRAY(listener, sock, peer) };

// Every message, by its wire type number (variant index + 1; never reorder, only append).
using SocketMessage = std::variant<SockOpen, SockConnect, SockBind, SockListen, SockName, SockSetOpt,
                                   SockGetOpt, SockData, SockAck, SockEof, SockClose, SockTaken,
                                   SockReply, SockAccepted, SockDone>;

// Both ends are driven by their owner's poll loop: what to wait for on which descriptor.
struct SocketWatch {
    int fd = -1;
    short events = 0;  // POLLIN / POLLOUT (errors and hang-ups are always reported)
    uint64_t sock = 0;
};

std::string encode_socket_message(const SocketMessage& message);
// Never throws: malformed, truncated, oversized, wrong-version or unknown messages come
// back as an Error saying which.
Result<SocketMessage> decode_socket_message(std::span<const char> bytes);
// "SockOpen", for logs and errors.
const char* socket_message_name(const SocketMessage& message);

}  // namespace ssi::remote
