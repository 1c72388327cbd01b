#include "config/bounded_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "messages/error.hpp"

namespace mailpipe {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

/// Closes a descriptor when it goes out of scope.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd > 2)
      ::close(fd);
  }
};

// Appends up to `max_bytes` read from `fd` to `out`; false (errno set) on a read error.
bool read_up_to(int fd, std::size_t max_bytes, std::string& out) {
  char buf[65536];
  while (out.size() < max_bytes) {
    auto want = std::min(sizeof(buf), max_bytes - out.size());
    auto n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace

caf::expected<std::string> read_regular_file(const std::string& path,
                                             std::size_t max_bytes) {
  auto fail = [&](std::string why) {
    return caf::make_error(ec::invalid_config,
                           fmt::format("{}: {}", path, why));
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return fail(fmt::format("cannot read the file: {}", std::strerror(errno)));
  fd_guard guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(fmt::format("cannot read the file: {}", std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return fail(
        fmt::format("cannot read the file: it is {}", kind_of(st.st_mode)));
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    return fail(
        fmt::format("cannot read the file: {} bytes, more than the limit "
                    "of {} bytes",
                    st.st_size, max_bytes));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string out;
  // One byte more than allowed tells a file that grew after fstat.
  if (!read_up_to(fd, max_bytes + 1, out))
    return fail(fmt::format("cannot read the file: {}", std::strerror(errno)));
  if (out.size() > max_bytes)
    return fail(fmt::format(
        "cannot read the file: more than the limit of {} bytes", max_bytes));
  return out;
}

caf::expected<std::string> read_file_prefix(const std::string& path,
                                            std::size_t max_bytes) {
  auto name = path == "-" ? std::string{"standard input"} : path;
  auto fail = [&](std::string why) {
    return caf::make_error(ec::invalid_argument,
                           fmt::format("cannot read {}: {}", name, why));
  };
  int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return caf::make_error(
        ec::invalid_argument,
        fmt::format("cannot open {}: {}", name, std::strerror(errno)));
  fd_guard guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
    return fail("it is a directory");
  std::string out;
  if (!read_up_to(fd, max_bytes, out))
    return fail(std::strerror(errno));
  return out;
}

} // namespace mailpipe
