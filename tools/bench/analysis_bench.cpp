// Google Benchmark: the whole analysis of realistic header blocks (header
// parsing, test ids, placement, Authentication-Results, spam filters), and its
// JSON.
//   build/tools/bench/mailpipe_analysis_bench --benchmark_min_time=2

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "adapters/analysis/analysis.hpp"
#include "adapters/analysis/analysis_json.hpp"

namespace {

std::string read(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

const mailpipe::analyzer& the_analyzer() {
  static const auto an = mailpipe::analyzer::builtin();
  if (!an)
    std::abort();
  return *an;
}

const std::string dir =
    std::string{MAILPIPE_SOURCE_DIR} + "/tests/data/messages/";

// The 6.7 KB Microsoft 365 newsletter: 55 fields, 2 DKIM signatures, EOP
// headers.
void analyze_m365_6k(benchmark::State& state) {
  auto msg = read(dir + "m365_newsletter_6k.eml");
  if (msg.empty())
    state.SkipWithError("m365_newsletter_6k.eml not found");
  mailpipe::placement_input where{"outlook", "inbox", {"focused"}};
  mailpipe::analysis_scratch scratch;
  for (auto _ : state) {
    auto a = the_analyzer().analyze(msg, where, scratch);
    benchmark::DoNotOptimize(a);
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * msg.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(analyze_m365_6k);

// The same without reused buffers (`analyze` without a scratch), for what the
// scratch buys.
void analyze_m365_6k_fresh_buffers(benchmark::State& state) {
  auto msg = read(dir + "m365_newsletter_6k.eml");
  mailpipe::placement_input where{"outlook", "inbox", {"focused"}};
  for (auto _ : state) {
    auto a = the_analyzer().analyze(msg, where);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(analyze_m365_6k_fresh_buffers);

// The same, plus rendering the JSON the CLI prints.
void analyze_m365_6k_json(benchmark::State& state) {
  auto msg = read(dir + "m365_newsletter_6k.eml");
  mailpipe::placement_input where{"outlook", "inbox", {"focused"}};
  mailpipe::analysis_scratch scratch;
  for (auto _ : state) {
    auto json =
        mailpipe::to_json(the_analyzer().analyze(msg, where, scratch), 0);
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(analyze_m365_6k_json);

// Gmail with ARC through a mailing list, and every other sample of the corpus,
// in turn.
void analyze_corpus(benchmark::State& state) {
  std::vector<std::string> msgs;
  if (auto d = opendir(dir.c_str())) {
    while (auto e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == ".eml")
        msgs.push_back(read(dir + name));
    }
    closedir(d);
  }
  if (msgs.empty())
    state.SkipWithError("no corpus");
  mailpipe::placement_input where{"imap", "INBOX", {}};
  std::size_t i = 0, bytes = 0;
  mailpipe::analysis_scratch scratch;
  for (auto _ : state) {
    auto& m = msgs[i++ % msgs.size()];
    bytes += m.size();
    auto a = the_analyzer().analyze(m, where, scratch);
    benchmark::DoNotOptimize(a);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(analyze_corpus);

} // namespace

// BENCHMARK_MAIN, plus the allocator in the report's context (the figures
// depend on it; see docs/analysis.md).
int main(int argc, char** argv) {
  benchmark::AddCustomContext("allocator", MAILPIPE_ALLOCATOR);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
