#include "adapters/http/prometheus.hpp"

#include <cmath>

#include <fmt/format.h>

namespace mailpipe::http {

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  auto micros = std::llround(std::max(value, 0.0) * 1e6);
  sum_micros_.fetch_add(static_cast<uint64_t>(micros),
                        std::memory_order_relaxed);
}

histogram::reading histogram::read() const {
  reading r;
  r.bounds = bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    r.cumulative.push_back(total);
  }
  r.count = total;
  r.sum =
      static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return r;
}

namespace {

// A label value with backslash, quote and newline escaped.
std::string escaped(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string label_text(const labels& ls, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
  std::string out;
  auto add = [&](std::string_view k, std::string_view v) {
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, escaped(v));
  };
  for (auto& [k, v] : ls)
    add(k, v);
  if (!extra_name.empty())
    add(extra_name, extra_value);
  return out.empty() ? "" : "{" + out + "}";
}

std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

} // namespace

void prometheus_text::family(std::string_view name, std::string_view type,
                             std::string_view help) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void prometheus_text::sample(std::string_view name, const labels& ls,
                             double value) {
  out_ += fmt::format("{}{} {}\n", name, label_text(ls), number(value));
}

void prometheus_text::sample(std::string_view name, const labels& ls,
                             const histogram::reading& h) {
  for (size_t i = 0; i < h.cumulative.size(); ++i) {
    auto le = i < h.bounds.size() ? number(h.bounds[i]) : std::string{"+Inf"};
    out_ += fmt::format("{}_bucket{} {}\n", name, label_text(ls, "le", le),
                        h.cumulative[i]);
  }
  out_ += fmt::format("{}_sum{} {}\n", name, label_text(ls), number(h.sum));
  out_ += fmt::format("{}_count{} {}\n", name, label_text(ls), h.count);
}

} // namespace mailpipe::http
