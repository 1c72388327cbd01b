#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mailpipe::test {

/// A message an SMTP stand-in took.
struct smtp_message {
  std::string from;
  std::vector<std::string> to;
  /// The DATA, as sent (dot-stuffing undone, the final "." gone).
  std::string data;
};

/// An SMTP server on 127.0.0.1 and a free port, answering as RFC 5321 says
/// (220 greeting, EHLO, MAIL FROM, RCPT TO, DATA, QUIT), one connection at a
/// time, in its own thread. `reply_to_data` scripts the answer to each DATA
/// in turn (the last one repeats): "250 ..." takes the message, "451 ..." or
/// "554 ..." refuses it. Plain text only (no STARTTLS offered).
class smtp_stub {
public:
  explicit smtp_stub(std::vector<std::string> reply_to_data = {
                         "250 2.0.0 queued"});
  ~smtp_stub();
  smtp_stub(const smtp_stub&) = delete;
  smtp_stub& operator=(const smtp_stub&) = delete;

  /// smtp://127.0.0.1:PORT
  std::string url() const;

  /// The messages taken (a 250 to their DATA).
  std::vector<smtp_message> messages() const;

  /// DATA commands answered, taken or not.
  int data_count() const { return data_count_.load(); }

private:
  void serve();
  void session(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<std::string> replies_;
  std::atomic<bool> stop_{false};
  std::atomic<int> data_count_{0};
  mutable std::mutex mutex_;
  std::vector<smtp_message> taken_;
  std::thread thread_;
};

} // namespace mailpipe::test
