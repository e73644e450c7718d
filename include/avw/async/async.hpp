// File: async.hpp
//
// The async idioms every edge shares, written once: the nothrow completion token, a sleep
// that a stop cuts short, and the co_spawn completion handler that logs how a coroutine ended.
//
//   auto [ec, n] = co_await stream.async_read_some(buffer, async::use_nothrow_awaitable);
//
//   async::StoppableSleep sleeper;                    // one per component, on its context
//   if (!co_await sleeper.sleep(context, backoff)) co_return;   // false once stopped
//   sleeper.stop();                                   // on that context: wakes every sleep
//
//   net::co_spawn(context, run(self), async::log_exception("provision", "garbage collection"));
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <set>
#include <string>

namespace avw::async {

/// Completion token: `co_await` yields (error_code, results...) instead of throwing.
inline constexpr auto use_nothrow_awaitable = boost::asio::as_tuple(boost::asio::use_awaitable);

/// The sleeps of one component. Not thread-safe: sleep() and stop() run on the context that
/// owns the component (a stop from elsewhere is posted there first).
class StoppableSleep {
 public:
  /// Waits `duration` on `context`; returns false at once or on waking once stop() was called.
  template <class Context, class Duration>
  boost::asio::awaitable<bool> sleep(Context& context, Duration duration) {
    if (stopped_) co_return false;
    boost::asio::steady_timer timer(context, duration);
    timers_.insert(&timer);
    co_await timer.async_wait(use_nothrow_awaitable);
    timers_.erase(&timer);
    co_return !stopped_;
  }

  /// Wakes every sleep and makes the next ones return false at once.
  void stop() {
    stopped_ = true;
    for (boost::asio::steady_timer* timer : timers_) timer->cancel();
  }
  bool stopped() const { return stopped_; }

 private:
  std::set<boost::asio::steady_timer*> timers_;
  bool stopped_ = false;
};

/// The completion handler for co_spawn: `detached` would swallow an exception silently
/// (checked on Boost 1.81), so every spawned coroutine logs how it ended.
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

}  // namespace avw::async
