// Fuzzes the watch path: kube::LineSplitter fed in arbitrary pieces, and core::decode_watch_event
// on every line it yields.
//
// The whole input is the stream. Its first bytes also choose how it is cut (a TCP read or an
// HTTP chunk can end anywhere) and the splitter's line limit, so the seeds stay plain watch
// lines and the fuzzer learns to vary the cuts. Checked for every input:
//   - the lines and the final state (partial line, failure) do not depend on the cuts: they
//     equal a one-pass split of the whole stream (lines without "\n" and one trailing "\r",
//     empty lines skipped, a line longer than the limit stops the splitter for good);
//   - decode_watch_event throws nothing but DecodeError; an event it returns is consistent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/watch_event.hpp"
#include "avw/kube/watch_lines.hpp"
#include "fuzz_support.hpp"

using avw::core::WatchEvent;
using avw::fuzz::fuzz_require;
using avw::kube::LineSplitter;

namespace {

constexpr std::size_t kCutBytes = 4;  // piece sizes cycle through these first bytes

struct Expected {
  std::vector<std::string_view> lines;
  bool failed = false;
  bool partial = false;
};

// The one-pass split the splitter must agree with, however the stream is cut.
Expected split_whole(std::string_view stream, std::size_t max_line) {
  Expected out;
  while (!stream.empty()) {
    const std::size_t nl = stream.find('\n');
    if (nl == std::string_view::npos) {
      out.failed = stream.size() > max_line;
      out.partial = !out.failed;
      return out;
    }
    std::string_view line = stream.substr(0, nl);
    stream.remove_prefix(nl + 1);
    if (line.size() > max_line) {
      out.failed = true;
      return out;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out.lines.push_back(line);
  }
  return out;
}

void decode(std::string_view line) {
  try {
    const WatchEvent event = avw::core::decode_watch_event(line);
    const auto& o = event.objects;
    const std::size_t objects =
        o.vpas.size() + o.targets.size() + o.limit_ranges.size() + o.checkpoints.size() + o.namespaces.size();
    fuzz_require(objects <= 1, "a watch event carried more than one object", line);
    // The message and the object errors end up in log lines.
    fuzz_require(event.error_message.find('\n') == std::string::npos, "an error message spans lines", line);
    for (const std::string& e : o.errors) {
      fuzz_require(e.find('\n') == std::string::npos, "an object error spans lines", e);
    }
  } catch (const avw::core::DecodeError& e) {
    fuzz_require(std::string_view(e.what()).size() > 0, "DecodeError without a message", line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream = avw::fuzz::as_view(data, size);

  // Piece sizes 1..64 from the first bytes (a zero byte: the rest in one piece), and the line
  // limit: the default unless byte 4 has its high bit set, then a small one so the failure
  // path is reached with short inputs.
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < kCutBytes && i < size; ++i) {
    cuts.push_back(data[i] == 0 ? size : std::size_t{1} + data[i] % 64);
  }
  if (cuts.empty()) cuts.push_back(1);
  const std::size_t max_line = (size > kCutBytes && (data[kCutBytes] & 0x80) != 0)
                                   ? static_cast<std::size_t>(data[kCutBytes] & 0x7f) * 8
                                   : LineSplitter::kDefaultMaxLine;

  LineSplitter splitter(max_line);
  std::vector<std::string> lines;
  bool ok = true;
  std::size_t offset = 0;
  for (std::size_t i = 0; offset < stream.size(); ++i) {
    const std::string_view piece = stream.substr(offset, cuts[i % cuts.size()]);
    offset += piece.size();
    const bool fed = splitter.feed(piece, [&](std::string_view line) {
      fuzz_require(!line.empty() && line.find('\n') == std::string_view::npos, "the splitter yielded a bad line", line);
      lines.emplace_back(line);
    });
    fuzz_require(fed == !splitter.failed(), "feed() and failed() disagree");
    ok = ok && fed;
    fuzz_require(ok == fed, "the splitter recovered from a failure without reset()");
  }

  const Expected expected = split_whole(stream, max_line);
  fuzz_require(splitter.failed() == expected.failed, "the cuts changed whether the splitter fails");
  fuzz_require(splitter.has_partial() == expected.partial, "the cuts changed the partial line");
  fuzz_require(lines.size() == expected.lines.size(), "the cuts changed the number of lines");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    fuzz_require(lines[i] == expected.lines[i], "the cuts changed a line", lines[i]);
  }

  for (const std::string& line : lines) decode(line);

  splitter.reset();
  fuzz_require(!splitter.failed() && !splitter.has_partial(), "reset() left state behind");
  return 0;
}
