#pragma once

#include <cstddef>
#include <string_view>

namespace mailpipe::embedded {

/// One file compiled into the binary by cmake/embed.cmake (migrations, policy data).
struct embedded_file {
  /// The file's name, without its folder.
  std::string_view name;
  /// The file's bytes.
  std::string_view content;
};

} // namespace mailpipe::embedded
