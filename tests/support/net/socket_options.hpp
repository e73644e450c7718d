// File: socket_options.hpp
//
// The options of this process's own TCP sockets, for in-process tests that check how the
// server or the Kubernetes client set up a connection (the kernel keeps what a test cannot
// see from the other end).
#pragma once

#include <cstdint>
#include <vector>

namespace avw::test {

/// TCP_NODELAY of every connected IPv4 TCP socket of this process whose local port is
/// `local_port` (0: any) and whose peer's port is `peer_port` (0: any).
std::vector<bool> tcp_no_delay_of_sockets(std::uint16_t local_port, std::uint16_t peer_port);

}  // namespace avw::test
