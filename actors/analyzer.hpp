#pragma once

#include <memory>
#include <vector>

#include "actors/actors.hpp"
#include "adapters/analysis/analysis.hpp"

namespace mailpipe {

/// The analyses of messages found in an account of `kind`: placement,
/// authentication results and filters, each with its `mailpipe analyze`
/// document. Pure.
std::vector<found_result>
analyze_found(const analyzer& an, provider kind,
              const std::vector<found_message>& messages);

/// Answers one `analyze` with `analyze_found` and quits (one per pass: a
/// message that crashed the analysis would take only its own pass down).
analyzer_actor::behavior_type analyze_pass(analyzer_actor::pointer self,
                                           std::shared_ptr<const analyzer> an);

} // namespace mailpipe
