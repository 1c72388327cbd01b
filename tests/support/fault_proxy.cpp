#include "tests/support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <vector>

#include <gtest/gtest.h>

namespace mailpipe::test {

std::optional<proxy_target> pg_target_of(const std::string& url) {
  std::smatch m;
  static const std::regex host_port{R"(@([0-9.]+):([0-9]+)/)"};
  if (!std::regex_search(url, m, host_port))
    return std::nullopt;
  return proxy_target{m[1], static_cast<uint16_t>(std::stoi(m[2]))};
}

std::string through_port(const std::string& url, uint16_t port) {
  static const std::regex port_part{R"(:([0-9]+)/)"};
  return std::regex_replace(url, port_part, ":" + std::to_string(port) + "/",
                            std::regex_constants::format_first_only);
}

// One proxied connection: the client's socket, the target's, and the bytes
// read from one side and not yet written to the other.
struct fault_link {
  int client = -1;
  int server = -1;
  std::string to_server;
  std::string to_client;

  ~fault_link() {
    ::close(client);
    ::close(server);
  }
};

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  return addr;
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int listen_on_free_port(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto addr = loopback(0);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0
      || ::listen(fd, 64) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// A blocking connect to the target (on loopback: immediate).
int connect_to(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (fd < 0 || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1
      || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what `from` has into `buf`; false when it closed or failed.
bool read_into(int from, std::string& buf) {
  char chunk[16384];
  auto n = ::read(from, chunk, sizeof(chunk));
  if (n > 0) {
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

// Writes as much of `buf` to `to` as it takes; false when it failed.
bool flush(int to, std::string& buf) {
  if (buf.empty())
    return true;
  auto n = ::send(to, buf.data(), buf.size(), MSG_NOSIGNAL);
  if (n > 0) {
    buf.erase(0, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

short wanted(const std::string& incoming, const std::string& outgoing) {
  return static_cast<short>((incoming.empty() ? POLLIN : 0)
                            | (outgoing.empty() ? 0 : POLLOUT));
}

// Moves bytes for one link after poll; false when the link is to be closed.
bool pump(fault_link& l, short client_events, short server_events) {
  auto failed = POLLERR | POLLNVAL;
  if ((client_events | server_events) & failed)
    return false;
  if ((client_events & (POLLIN | POLLHUP)) && !read_into(l.client, l.to_server))
    return false;
  if ((server_events & (POLLIN | POLLHUP)) && !read_into(l.server, l.to_client))
    return false;
  return flush(l.server, l.to_server) && flush(l.client, l.to_client);
}

// The wake pipe, the listener, then each link's client and server. Frozen, only
// the wake pipe is watched (a negative fd is skipped by poll): new connections
// wait in the listener's backlog, as with a stopped postmaster, and a link's
// hang-up cannot spin the loop.
std::vector<pollfd>
poll_set(const std::vector<std::unique_ptr<fault_link>>& links, int wake_fd,
         int listener, bool frozen) {
  auto watched = [frozen](int fd) { return frozen ? -1 : fd; };
  std::vector<pollfd> fds{{wake_fd, POLLIN, 0}, {watched(listener), POLLIN, 0}};
  for (auto& l : links) {
    fds.push_back({watched(l->client), wanted(l->to_server, l->to_client), 0});
    fds.push_back({watched(l->server), wanted(l->to_client, l->to_server), 0});
  }
  return fds;
}

} // namespace

fault_proxy::fault_proxy(std::string target_host, uint16_t target_port)
    : target_host_(std::move(target_host)), target_port_(target_port) {
  listener_ = listen_on_free_port(port_);
  if (listener_ < 0 || ::pipe(wake_pipe_) != 0) {
    ADD_FAILURE() << "fault_proxy: cannot listen on 127.0.0.1";
    port_ = 0;
    return;
  }
  set_nonblocking(listener_);
  set_nonblocking(wake_pipe_[0]);
  thread_ = std::thread{[this] { loop(); }};
}

fault_proxy::~fault_proxy() {
  stopping_ = true;
  wake();
  if (thread_.joinable())
    thread_.join();
  for (int fd : {listener_, wake_pipe_[0], wake_pipe_[1]})
    if (fd >= 0)
      ::close(fd);
}

void fault_proxy::freeze() {
  frozen_ = true;
  wake();
}

void fault_proxy::resume() {
  frozen_ = false;
  wake();
}

void fault_proxy::wake() {
  if (wake_pipe_[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] auto n = ::write(wake_pipe_[1], &byte, 1);
  }
}

// A new client and its own connection to the target; null when the target
// cannot be reached (the client then sees its connection closed).
std::unique_ptr<fault_link> fault_proxy::accept_link() {
  int client = ::accept(listener_, nullptr, nullptr);
  if (client < 0)
    return nullptr;
  auto l = std::make_unique<fault_link>();
  l->client = client;
  l->server = connect_to(target_host_, target_port_);
  if (l->server < 0)
    return nullptr;
  set_nonblocking(l->client);
  set_nonblocking(l->server);
  ++accepted_;
  return l;
}

void fault_proxy::loop() {
  std::vector<std::unique_ptr<fault_link>> links;
  while (!stopping_) {
    auto fds = poll_set(links, wake_pipe_[0], listener_, frozen_);
    if (::poll(fds.data(), fds.size(), -1) < 0)
      continue;
    char drain[64];
    while (::read(wake_pipe_[0], drain, sizeof(drain)) > 0) {
    }
    std::vector<std::unique_ptr<fault_link>> kept;
    for (size_t i = 0; i < links.size(); ++i)
      if (pump(*links[i], fds[2 + 2 * i].revents, fds[3 + 2 * i].revents))
        kept.push_back(std::move(links[i]));
    links = std::move(kept);
    if (fds[1].revents & POLLIN)
      if (auto l = accept_link())
        links.push_back(std::move(l));
  }
}

} // namespace mailpipe::test
