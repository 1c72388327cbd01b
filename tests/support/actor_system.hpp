#pragma once

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/actors.hpp"
#include "messages/fwd.hpp"

namespace mailpipe::test {

/// An actor system configuration with the project's message types registered.
struct system_config : caf::actor_system_config {
  system_config() { register_message_types(*this); }
};

/// A fixture with a threaded actor system and a scoped actor to talk to it.
struct actor_system_fixture : ::testing::Test {
  system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  /// The status `actor` answers; empty, and the test failed, when it does not
  /// answer within ten seconds.
  template <class Handle>
  status_dict status_of(const Handle& actor) {
    status_dict result;
    self->request(actor, std::chrono::seconds{10}, atom::status_v)
        .receive([&](status_dict& d) { result = std::move(d); },
                 [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return result;
  }
};

} // namespace mailpipe::test
