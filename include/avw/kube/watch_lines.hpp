// File: watch_lines.hpp
//
// Splits a watch stream into events. The API server writes one JSON object per event,
// terminated by "\n" (over HTTP/1.1 usually one chunk per event, but nothing guarantees
// it: a proxy may re-chunk, and TCP delivers chunk bodies in arbitrary pieces). So lines are
// reassembled from whatever pieces arrive; a piece left over when the connection drops is
// half an event and must be discarded, never decoded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace avw::kube {

class LineSplitter {
 public:
  /// `max_line`: a longer line (an object the API server would never send) is an error,
  /// so a broken or hostile peer cannot make the buffer grow without bound.
  explicit LineSplitter(std::size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  static constexpr std::size_t kDefaultMaxLine = std::size_t{64} << 20;

  /// Appends `data`, calling `on_line(std::string_view)` for each complete non-empty line
  /// (without its "\n" or a trailing "\r"). Returns false when a line exceeds the limit; the
  /// splitter then stays failed until reset().
  template <class OnLine>
  bool feed(std::string_view data, OnLine&& on_line) {
    if (failed_) return false;
    while (!data.empty()) {
      const auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        if (partial_.size() + data.size() > max_line_) return fail();
        partial_.append(data);
        return true;
      }
      std::string_view line = data.substr(0, nl);
      data.remove_prefix(nl + 1);
      if (!partial_.empty()) {
        if (partial_.size() + line.size() > max_line_) return fail();
        partial_.append(line);
        emit(partial_, on_line);
        partial_.clear();
      } else {
        if (line.size() > max_line_) return fail();
        emit(line, on_line);
      }
    }
    return true;
  }

  /// True when an incomplete line is buffered (the stream ended mid-event).
  bool has_partial() const { return !partial_.empty(); }
  bool failed() const { return failed_; }
  void reset() {
    partial_.clear();
    failed_ = false;
  }

 private:
  template <class OnLine>
  static void emit(std::string_view line, OnLine& on_line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) on_line(line);
  }
  bool fail() {
    partial_.clear();
    failed_ = true;
    return false;
  }

  std::size_t max_line_;
  std::string partial_;
  bool failed_ = false;
};

}  // namespace avw::kube
