#pragma once

// The stop signals of the long-running commands (`run`, `process`).

#include <signal.h>

namespace mailpipe::cli {

/// SIGTERM, SIGINT and SIGHUP: each starts an ordered stop (a closed terminal or
/// a service manager's hang-up is one too; log files rotate daily by
/// themselves, so there is nothing to reopen). A second one during the stop
/// ends the process at once.
sigset_t stop_signals();

/// "SIGTERM", "SIGINT", "SIGHUP", else "a signal".
const char* signal_name(int sig);

/// The exit code of a process stopped by `sig`: 128 + its number.
int exit_code_of(int sig);

} // namespace mailpipe::cli
