#pragma once

// The project's CAF type-id block: every type that travels between actors.
// Unlike add_message_type<T>, loading an id block does not register
// std::vector<T>: list the vectors that travel. Chained after it: atoms
// (messages/atoms.hpp). Register with mailpipe::register_message_types(cfg).

#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "messages/pipeline.hpp"
#include "messages/types.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(mailpipe, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(mailpipe, (mailpipe::account))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::fetch_request))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::found_message))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::fetch_result))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::account_failure))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::run_summary))
CAF_ADD_TYPE_ID(mailpipe, (std::vector<mailpipe::account>))
CAF_ADD_TYPE_ID(mailpipe, (std::vector<mailpipe::found_message>))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::terminator_target))
CAF_ADD_TYPE_ID(mailpipe, (std::vector<mailpipe::terminator_target>))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::lease_holder))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::claim_request))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pending_test))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::claimed_account))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::claim_result))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::found_result))
CAF_ADD_TYPE_ID(mailpipe, (std::vector<mailpipe::found_result>))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::failure_outcome))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pass_record))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pass_ack))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::rotated_token))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pass_status))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pass_outcome))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::pass_request))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::run_request))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::run_report))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::alert_event))
CAF_ADD_TYPE_ID(mailpipe, (mailpipe::metrics_row))
CAF_ADD_TYPE_ID(mailpipe, (std::vector<mailpipe::metrics_row>))

CAF_END_TYPE_ID_BLOCK(mailpipe)

#include "messages/atoms.hpp"

namespace mailpipe {

/// Registers every message type and the `mailpipe` error category with `cfg`.
void register_message_types(caf::actor_system_config& cfg);

} // namespace mailpipe
