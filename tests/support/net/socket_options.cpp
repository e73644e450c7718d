#include "support/net/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace avw::test {

std::vector<bool> tcp_no_delay_of_sockets(std::uint16_t local_port, std::uint16_t peer_port) {
  std::vector<bool> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in local{}, peer{};
    socklen_t local_size = sizeof local, peer_size = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 || local.sin_family != AF_INET) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) continue;  // listening, or not a socket
    if ((local_port != 0 && ntohs(local.sin_port) != local_port) || (peer_port != 0 && ntohs(peer.sin_port) != peer_port)) {
      continue;
    }
    int on = 0;
    socklen_t size = sizeof on;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &size) != 0) {
      throw std::runtime_error("getsockopt(TCP_NODELAY) failed on fd " + std::to_string(fd));
    }
    found.push_back(on != 0);
  }
  return found;
}

}  // namespace avw::test
