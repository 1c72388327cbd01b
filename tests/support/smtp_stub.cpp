#include "tests/support/smtp_stub.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace mailpipe::test {

namespace {

void say(int fd, const std::string& line) {
  auto text = line + "\r\n";
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

// Reads one CRLF line into `line` (without it); false when the peer is gone.
bool read_line(int fd, std::string& buffer, std::string& line) {
  for (;;) {
    auto end = buffer.find("\r\n");
    if (end != std::string::npos) {
      line = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      return true;
    }
    char chunk[4096];
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0)
      return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// The address between < and >.
std::string address_of(const std::string& arg) {
  auto open = arg.find('<');
  auto close = arg.find('>', open);
  if (open == std::string::npos || close == std::string::npos)
    return arg;
  return arg.substr(open + 1, close - open - 1);
}

bool starts_with_ci(const std::string& s, const std::string& prefix) {
  if (s.size() < prefix.size())
    return false;
  return std::equal(prefix.begin(), prefix.end(), s.begin(),
                    [](char a, char b) { return std::toupper(a) == b; });
}

} // namespace

smtp_stub::smtp_stub(std::vector<std::string> reply_to_data)
    : replies_(std::move(reply_to_data)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 8);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { serve(); }};
}

smtp_stub::~smtp_stub() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string smtp_stub::url() const {
  return fmt::format("smtp://127.0.0.1:{}", port_);
}

std::vector<smtp_message> smtp_stub::messages() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return taken_;
}

void smtp_stub::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      continue;
    session(fd);
    ::close(fd);
  }
}

void smtp_stub::session(int fd) {
  std::string buffer, line;
  smtp_message msg;
  say(fd, "220 stub.test ESMTP ready");
  while (!stop_ && read_line(fd, buffer, line)) {
    if (starts_with_ci(line, "EHLO")) {
      say(fd, "250-stub.test greets you");
      say(fd, "250-8BITMIME");
      say(fd, "250 SIZE 10485760");
    } else if (starts_with_ci(line, "HELO")) {
      say(fd, "250 stub.test");
    } else if (starts_with_ci(line, "MAIL FROM:")) {
      msg = {};
      msg.from = address_of(line.substr(10));
      say(fd, "250 2.1.0 ok");
    } else if (starts_with_ci(line, "RCPT TO:")) {
      msg.to.push_back(address_of(line.substr(8)));
      say(fd, "250 2.1.5 ok");
    } else if (starts_with_ci(line, "DATA")) {
      say(fd, "354 end with <CRLF>.<CRLF>");
      while (read_line(fd, buffer, line) && line != ".")
        msg.data += (line.rfind("..", 0) == 0 ? line.substr(1) : line) + "\r\n";
      auto n = static_cast<size_t>(data_count_++);
      auto& reply = replies_[std::min(n, replies_.size() - 1)];
      if (reply.rfind("250", 0) == 0) {
        std::lock_guard<std::mutex> guard{mutex_};
        taken_.push_back(msg);
      }
      say(fd, reply);
    } else if (starts_with_ci(line, "RSET") || starts_with_ci(line, "NOOP")) {
      say(fd, "250 2.0.0 ok");
    } else if (starts_with_ci(line, "QUIT")) {
      say(fd, "221 2.0.0 bye");
      return;
    } else {
      say(fd, "502 5.5.2 command not recognized");
    }
  }
}

} // namespace mailpipe::test
