// File: process.hpp
//
// A child process for tests that need the real binary (signals, exit codes, stdio):
// stdin from a file or /dev/null, stdout and stderr to files the test reads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace avw::test {

struct ProcessOptions {
  std::string stdin_path = "/dev/null";
  std::string stdout_path = "/dev/null";
  std::string stderr_path = "/dev/null";
};

/// stdout and stderr to these files (stdin from /dev/null unless given).
inline ProcessOptions stdio(std::string out, std::string err = "/dev/null", std::string in = "/dev/null") {
  ProcessOptions o;
  o.stdin_path = std::move(in);
  o.stdout_path = std::move(out);
  o.stderr_path = std::move(err);
  return o;
}

class Subprocess {
 public:
  /// Starts argv[0] (a path) with the arguments. Throws std::runtime_error when it cannot.
  Subprocess(const std::vector<std::string>& argv, const ProcessOptions& options);
  /// Kills (SIGKILL) and reaps the child if it still runs.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  /// The exit code once the child exited within `timeout` (128 + signal when killed).
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Runs a command to completion and returns its exit code (or throws after `timeout`).
int run_process(const std::vector<std::string>& argv, const ProcessOptions& options,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace avw::test
