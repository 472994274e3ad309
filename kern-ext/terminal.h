// The few terminal questions the tools ask.
#pragma once

#include <cstddef>
#include <optional>

namespace ssi {

bool is_terminal(int fd);
// Columns of the terminal on fd, if it is one and knows its size.
std::optional<size_t> terminal_columns(int fd);

}  // namespace ssi
