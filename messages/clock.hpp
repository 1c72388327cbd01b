#pragma once

#include <chrono>
#include <functional>

namespace mailpipe {

/// Wall-clock time as pure code and adapters see it: always passed in, so tests need no
/// sleeps.
using wall_time = std::chrono::system_clock::time_point;

/// Returns the current time; `system_clock::now` in production, a fake in tests.
using clock_fn = std::function<wall_time()>;

} // namespace mailpipe
