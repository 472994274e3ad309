// The whole cluster's process table, kept in Boost.Interprocess shared memory on every
// node so that ssi-ps reads it without asking anyone. The agent is the only writer; any
// number of readers copy it lock-free (a seqlock over two slots), so a reader that dies
// mid-read can never block the agent.
//
// Layout (/dev/shm/NAME, mode 0644, created by the writer; see proc_table.cpp):
//   header (one page): magic, layout version, sizes, local node, the active slot index,
//                      the generation and one seqlock counter per slot;
//   slot 0, slot 1:    generation, publish time, row count, the down nodes, then
//                      kProcTableCapacity fixed-size rows.
// The writer fills the inactive slot (its counter odd while it does) and then flips the
// active index; a reader copies the active slot and retries if that slot's counter moved.
// Rows are fixed-size copies of wire::ProcessRecord; longer strings are cut (at a UTF-8
// character boundary) to: user 63, state 15, tty 31, comm 63, cmd 1023 bytes.
//
// Capacity is fixed and generous (kProcTableCapacity rows, ~84 MB per slot of address
// space) rather than grown: the object is sparse on tmpfs, so memory is only used for
// rows ever written (~1.3 KB a row, twice), and readers never have to remap. Publishing
// more rows than that is an error.
#pragma once

#include "kern-ext/result.h"
#include "libssi/wire/messages.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ssi {

inline constexpr uint32_t kProcTableCapacity = 65536;  // rows per slot
inline constexpr uint32_t kProcTableMaxDownNodes = 9999;

struct ProcTableSnapshot {
    int32_t local_node = 0;
    uint64_t generation = 0;          // increases with every publish
    int64_t published_at_ms = 0;      // wall clock, ms since the epoch
    std::vector<int32_t> down_nodes;  // nodes whose processes are not known now
    std::vector<wire::ProcessRecord> processes;
};

class ProcTableWriter {
public:
    // Creates (or takes over) the shared-memory object `name`, readable by everyone.
    static Result<ProcTableWriter> create(const std::string& name, int32_t local_node);
    ProcTableWriter(ProcTableWriter&&) noexcept;
    ProcTableWriter& operator=(ProcTableWriter&&) noexcept;
    ~ProcTableWriter();

    Result<void> publish(const std::vector<wire::ProcessRecord>& processes, const std::vector<int32_t>& down_nodes);
    // Removes the shared-memory object (agent shutdown).
    void remove();

    struct Impl;

private:
    explicit ProcTableWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

class ProcTableReader {
public:
    // Fails with a clear message when no agent has published a table.
    static Result<ProcTableReader> open(const std::string& name);
    ProcTableReader(ProcTableReader&&) noexcept;
    ProcTableReader& operator=(ProcTableReader&&) noexcept;
    ~ProcTableReader();

    Result<ProcTableSnapshot> read() const;

    struct Impl;

private:
    explicit ProcTableReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace ssi
