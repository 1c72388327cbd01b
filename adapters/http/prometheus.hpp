#pragma once

// The Prometheus text exposition format (version 0.0.4) of /metrics, and a
// histogram that threads may observe at once.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailpipe::http {

/// A histogram with fixed upper bounds (seconds, say), observed from any
/// thread without a lock.
class histogram {
public:
  /// `bounds` ascending; an implicit +Inf bucket follows them.
  explicit histogram(std::vector<double> bounds);

  void observe(double value);

  /// A consistent-enough reading: cumulative bucket counts (one per bound,
  /// then +Inf), the sum and the count.
  struct reading {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  reading read() const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  /// The sum in microunits, so that it is one atomic integer.
  std::atomic<uint64_t> sum_micros_{0};
};

/// Label names and values of one sample.
using labels = std::vector<std::pair<std::string_view, std::string_view>>;

/// Writes metric families: the HELP and TYPE lines, then their samples.
class prometheus_text {
public:
  /// Starts a family: `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type,
              std::string_view help);

  /// One sample of the current family.
  void sample(std::string_view name, const labels& ls, double value);

  /// The `_bucket`, `_sum` and `_count` samples of a histogram family.
  void sample(std::string_view name, const labels& ls,
              const histogram::reading& h);

  /// The text so far.
  const std::string& text() const { return out_; }

private:
  std::string out_;
};

} // namespace mailpipe::http
