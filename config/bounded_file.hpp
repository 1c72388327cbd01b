#pragma once

// Reading files with a bound: config and policy files a human writes, and the
// prefix of a message that the analysis uses. Nothing here reads without a limit.

#include <cstddef>
#include <string>

#include <caf/expected.hpp>

namespace mailpipe {

/// The largest config or policy file read (1 MiB): far above what a human writes, far
/// below what could exhaust memory.
inline constexpr std::size_t max_config_file_bytes = std::size_t{1} << 20;

/// Reads all of `path` when it is a regular file of at most `max_bytes`; otherwise an
/// `ec::invalid_config` error naming the file and the reason (missing, a directory, a
/// FIFO or device, too large). Never blocks on a FIFO.
caf::expected<std::string> read_regular_file(const std::string& path,
                                             std::size_t max_bytes);

/// Reads at most `max_bytes` of `path` ("-" for stdin), the rest left unread; an
/// `ec::invalid_argument` error when it cannot be opened or is a directory.
caf::expected<std::string> read_file_prefix(const std::string& path,
                                            std::size_t max_bytes);

} // namespace mailpipe
