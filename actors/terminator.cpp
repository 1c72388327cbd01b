#include "actors/terminator.hpp"

#include <algorithm>
#include <optional>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace mailpipe {

namespace {

using terminator_ptr = terminator_actor::stateful_pointer<terminator_state>;

bool all_gone(const terminator_state& st) {
  return std::all_of(st.gone.begin(), st.gone.end(), [](bool x) { return x; });
}

// Answers the requester and quits once nothing is left to wait for.
void finish_if_done(terminator_ptr self) {
  auto& st = self->state;
  if (!all_gone(st))
    return;
  st.done.deliver(atom::done_v);
  self->quit();
}

// Sends the exit to target `i` and arms its grace timer.
void stop_target(terminator_ptr self, size_t i) {
  auto& st = self->state;
  spdlog::info("stopping {}", st.targets[i].name);
  self->send_exit(st.targets[i].handle, caf::exit_reason::user_shutdown);
  auto left = std::max(caf::timespan{0}, st.deadline - self->clock().now());
  self->delayed_send(self, left, atom::tick_v, static_cast<uint64_t>(i));
}

// Sequential order: stops the next target still running, skipping those already down.
void stop_next(terminator_ptr self) {
  auto& st = self->state;
  while (st.next < st.targets.size() && st.gone[st.next])
    ++st.next;
  if (st.next < st.targets.size())
    stop_target(self, st.next);
}

// Marks target `i` gone and moves on.
void target_gone(terminator_ptr self, size_t i) {
  auto& st = self->state;
  if (st.gone[i])
    return;
  st.gone[i] = true;
  if (st.order == stop_order::sequential && i == st.next) {
    ++st.next;
    stop_next(self);
  }
  finish_if_done(self);
}

std::optional<size_t> index_of(const terminator_state& st,
                               const caf::actor_addr& addr) {
  for (size_t i = 0; i < st.targets.size(); ++i)
    if (st.targets[i].handle.address() == addr)
      return i;
  return std::nullopt;
}

} // namespace

terminator_actor::behavior_type
terminator(terminator_ptr self, stop_order order, caf::timespan grace) {
  self->state.order = order;
  self->state.grace = grace;
  self->set_down_handler([self](const caf::down_msg& msg) {
    if (auto i = index_of(self->state, msg.source))
      target_gone(self, *i);
  });
  return {
      [self](atom::shutdown, std::vector<terminator_target>& targets)
          -> caf::result<atom::done> {
        auto& st = self->state;
        st.done = self->make_response_promise<atom::done>();
        st.deadline = self->clock().now() + st.grace;
        st.targets = std::move(targets);
        st.gone.assign(st.targets.size(), false);
        for (size_t i = 0; i < st.targets.size(); ++i) {
          if (st.targets[i].handle)
            self->monitor(
                st.targets[i].handle); // a dead target sends down at once
          else
            st.gone[i] = true;
        }
        if (st.order == stop_order::sequential)
          stop_next(self);
        else
          for (size_t i = 0; i < st.targets.size(); ++i)
            if (!st.gone[i])
              stop_target(self, i);
        finish_if_done(self);
        return st.done;
      },
      [self](atom::tick, uint64_t i) {
        auto& st = self->state;
        if (i >= st.targets.size() || st.gone[i])
          return;
        spdlog::warn(
            "{} did not stop within {} ms, killing it", st.targets[i].name,
            std::chrono::duration_cast<std::chrono::milliseconds>(st.grace)
                .count());
        self->send_exit(st.targets[i].handle, caf::exit_reason::kill);
        st.killed.push_back(st.targets[i].name);
        // A detached actor blocked in a call never reads the kill: do not wait for it.
        target_gone(self, i);
      },
      [self](atom::status) -> status_dict {
        auto& st = self->state;
        status_dict d;
        d["name"] = std::string{terminator_state::name};
        d["targets"] = static_cast<int64_t>(st.targets.size());
        d["stopped"] = static_cast<int64_t>(
            std::count(st.gone.begin(), st.gone.end(), true));
        d["killed"] = static_cast<int64_t>(st.killed.size());
        return d;
      },
  };
}

} // namespace mailpipe
