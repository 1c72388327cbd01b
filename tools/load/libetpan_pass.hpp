#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace mailpipe::load {

/// The find-and-fetch pass done with Debian's libetpan (`mailimap`, one
/// command per round trip): login, LIST, and for INBOX and the \Junk folder
/// EXAMINE, UID SEARCH, UID FETCH BODY.PEEK[HEADER]; LOGOUT. Returns the
/// folder holding `test_id` ("" when none). With `tls`, libetpan's own TLS
/// (which does not verify the certificate) is used.
caf::expected<std::string> libetpan_pass(const std::string& host, uint16_t port,
                                         bool tls, const std::string& user,
                                         const std::string& password,
                                         const std::string& test_id);

} // namespace mailpipe::load
