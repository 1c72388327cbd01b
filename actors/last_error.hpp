#pragma once

#include <string>

#include <caf/error.hpp>

#include "messages/error.hpp"

namespace mailpipe {

/// Keeps `err`, rendered, as an actor's last error; true when it differs from
/// the one kept before, so that an actor logs a failure once and not at every
/// retry while a database or a server stays down.
inline bool keep_last_error(std::string& last_error, const caf::error& err) {
  auto text = render(err);
  bool changed = text != last_error;
  last_error = std::move(text);
  return changed;
}

} // namespace mailpipe
