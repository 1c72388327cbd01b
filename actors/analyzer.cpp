#include "actors/analyzer.hpp"

#include "adapters/analysis/analysis_json.hpp"
#include "adapters/db/pipeline.hpp"

namespace mailpipe {

std::vector<found_result>
analyze_found(const analyzer& an, provider kind,
              const std::vector<found_message>& messages) {
  std::vector<found_result> out;
  out.reserve(messages.size());
  analysis_scratch scratch;
  for (auto& msg : messages) {
    placement_input where{to_string(kind), msg.folder, msg.labels};
    auto analysis = an.analyze(msg.header_block, where, scratch);
    auto result =
        db::to_found_result(analysis, to_json(analysis, 0), msg.header_block);
    result.token = msg.test_id;
    out.push_back(std::move(result));
  }
  return out;
}

analyzer_actor::behavior_type analyze_pass(analyzer_actor::pointer self,
                                           std::shared_ptr<const analyzer> an) {
  return {
      [self, an](atom::analyze, provider kind,
                 const std::vector<found_message>& messages) {
        auto results = analyze_found(*an, kind, messages);
        self->quit();
        return results;
      },
  };
}

} // namespace mailpipe
