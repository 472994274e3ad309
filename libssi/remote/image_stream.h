// The image channel of a migration: the image of the process moving travels between its
// deputy (which keeps it in a home file, the one true copy until the commit point) and a
// supervisor, as raw chunks on the session's ZeroMQ link — not through the home file view,
// whose one-request-at-a-time FUSE round trips cap it far below the link's speed.
//
// Frames are [kind 'I'][payload]; the payload is one operation on "the image of the move
// under way" (the deputy never takes a path from the other side):
//   'G' u64 offset u32 length        -> 'D' u64 offset bytes (short or empty at the end)
//   'P' u64 offset bytes             -> 'K' u64 offset                (into IMAGE.part)
//   'C'                              -> 'K' u64 size   (IMAGE.part renamed to IMAGE: whole)
//   any failure                      -> 'E' text
// and, for a pre-copy into the deputy (a move home, docs/migration.md "Pre-copy"):
//   'A' u64 count, PrecopyArea[count] -> 'M' u64 count, u8[count]  (1: mapped in the deputy)
//   'W' u64 address bytes             -> 'K' u64 address           (copied into a mapped area)
//   'F'                               -> 'K' u64 0                 (done: each area gets the program's protection)
// and, for a post-copy from home (a move from home, docs/migration.md "Post-copy"):
//   'H' u64 offset u32 length         -> 'D' u64 offset bytes      (the image's head only)
//   'L' u64 address u32 length        -> 'D' u64 address bytes     (the held memory there)
//   'Z'                               -> 'K' u64 0                 (all of it arrived: the holder may go)
// The supervisor keeps several requests in flight; the deputy answers in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace ssi::remote {

inline constexpr char kImageKind = 'I';
inline constexpr size_t kImageChunkBytes = 1 << 20;
inline constexpr int kImageChunksInFlight = 4;

// One area of the program's memory the deputy is asked to hold for a pre-copy.
struct PrecopyArea {
    uint64_t start = 0, end = 0;
    uint32_t prot = 0;  // the program's protection there, which the deputy gives it when it parks
    uint32_t huge_pages = 0;  // 1: the program has transparent huge pages there (the deputy asks for them too)
};

struct ImageOp {
    char op = 0;           // 'G', 'P', 'C', 'A', 'W', 'F', 'H', 'L', 'Z' (requests) or 'D', 'K', 'M', 'E' (replies)
    uint64_t offset = 0;   // G, H, P, D, K; A and M: the count; W and L: the address
    uint32_t length = 0;   // G, H, L
    std::string_view data; // P, D; E's text
};

inline std::string encode_image_op(char op, uint64_t offset, uint32_t length = 0, std::string_view data = {}) {
    std::string out(1, op);
    if (op == 'C' || op == 'F' || op == 'Z') return out;
    out.append(reinterpret_cast<const char*>(&offset), sizeof offset);
    if (op == 'G' || op == 'H' || op == 'L') out.append(reinterpret_cast<const char*>(&length), sizeof length);
    out.append(data);
    return out;
}

inline std::string encode_image_error(std::string_view text) { return std::string(1, 'E') + std::string(text); }

// nullopt for a malformed payload.
inline std::optional<ImageOp> decode_image_op(std::string_view in) {
    if (in.empty()) return std::nullopt;
    ImageOp op;
    op.op = in[0];
    in.remove_prefix(1);
    if (op.op == 'E') {
        op.data = in;
        return op;
    }
    if (op.op == 'C' || op.op == 'F' || op.op == 'Z') return in.empty() ? std::optional(op) : std::nullopt;
    if (in.size() < sizeof op.offset) return std::nullopt;
    std::memcpy(&op.offset, in.data(), sizeof op.offset);
    in.remove_prefix(sizeof op.offset);
    if (op.op == 'G' || op.op == 'H' || op.op == 'L') {
        if (in.size() != sizeof op.length) return std::nullopt;
        std::memcpy(&op.length, in.data(), sizeof op.length);
        return op;
    }
    if (op.op == 'P' || op.op == 'D' || op.op == 'W') {
        op.data = in;
        return op;
    }
    if (op.op == 'K') return in.empty() ? std::optional(op) : std::nullopt;
    if (op.op == 'A' || op.op == 'M') {
        const uint64_t each = op.op == 'A' ? sizeof(PrecopyArea) : 1;
        if (op.offset > in.size() / each || in.size() != op.offset * each) return std::nullopt;
        op.data = in;
        return op;
    }
    return std::nullopt;
}

}  // namespace ssi::remote
