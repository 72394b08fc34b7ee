// SPDX-License-Identifier: MIT
//
// The addresses of background processes: UNIX-domain sockets at paths the
// caller chooses. Security rests on two locks: the socket file is mode 0600,
// and each side checks the other's uid with SO_PEERCRED, so only processes
// of the same user are ever served.
#include "unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include <pprocess/persistent.hpp>

#include "errors.hpp"

namespace pprocess::detail {
namespace {

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw Error("background address '" + path +
                "': a socket path must be 1 to " +
                std::to_string(sizeof address.sun_path - 1) + " bytes long");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

unique_fd unix_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw os_error(errno, "socket for '" + path + "'");
  }
  return unique_fd(fd);
}

/// connect() retried on EINTR; 0 or the errno.
int connect_socket(int fd, const sockaddr_un& address) {
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address),
                  sizeof address) == 0) {
      return 0;
    }
    if (errno != EINTR) {
      return errno;
    }
  }
}

}  // namespace

std::optional<credentials> peer_credentials(int socket) noexcept {
  ucred peer{};
  socklen_t size = sizeof peer;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
    return std::nullopt;
  }
  return credentials{peer.pid, peer.uid};
}

unique_fd listen_at(const std::string& path) {
  const sockaddr_un address = socket_address(path);
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      throw Error("background address '" + path +
                  "' exists and is not a socket; it is left untouched");
    }
    // A socket file: live if someone listens on it, stale otherwise.
    const unique_fd probe = unix_socket(path);
    const int error = connect_socket(probe.get(), address);
    if (error == 0) {
      throw Error("background address '" + path +
                  "' is in use: a process is listening on it");
    }
    if (error != ECONNREFUSED) {
      throw os_error(error, "background address '" + path + "'");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw os_error(errno, "removing the stale socket '" + path + "'");
    }
  }
  unique_fd listener = unix_socket(path);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address),
             sizeof address) != 0) {
    throw os_error(errno, "binding a socket at '" + path + "'");
  }
  // Nobody can connect before listen(), so the file is 0600 before it can
  // serve anyone.
  if (::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0 ||
      ::listen(listener.get(), SOMAXCONN) != 0) {
    const int error = errno;
    (void)::unlink(path.c_str());
    throw os_error(error, "listening at '" + path + "'");
  }
  return listener;
}

Channel connect_to(const std::string& path, pid_t known_pid) {
  const sockaddr_un address = socket_address(path);
  unique_fd connection = unix_socket(path);
  if (const int error = connect_socket(connection.get(), address)) {
    const std::string why =
        error == ECONNREFUSED ? "no process listens there (it ended?)"
        : error == ENOENT     ? "no such socket"
                              : std::system_category().message(error);
    throw ChannelError(std::error_code(error, std::system_category()),
                       "connect to background address '" + path + "': " + why);
  }
  const auto peer = peer_credentials(connection.get());
  if (!peer || peer->uid != ::geteuid()) {
    throw ChannelError(ChannelErrc::refused,
                       "connect to background address '" + path +
                           "': it belongs to another user");
  }
  return channel_access::make_client(
      std::move(connection), known_pid != 0 ? known_pid : peer->pid, path);
}

}  // namespace pprocess::detail
