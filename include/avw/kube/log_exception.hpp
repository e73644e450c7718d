// File: log_exception.hpp
//
// The completion handler for co_spawn on the control context: `detached` would swallow an
// exception silently (checked on Boost 1.81), so every spawned coroutine logs how it ended.
//
//   net::co_spawn(control, run_gc(self), kube::log_exception("provision", "garbage collection"));
#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <string>

namespace avw::kube {

inline auto log_exception(std::string component, std::string what) {
  return [component = std::move(component), what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{}: {} ended with an exception: {}", component, what, ex.what());
    }
  };
}

}  // namespace avw::kube
