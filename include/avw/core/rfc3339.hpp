// File: rfc3339.hpp
//
// RFC 3339 timestamps as the API server writes them (`2026-11-23T17:09:07Z`), to and from
// seconds since the epoch. The core reads no clock: callers pass the time in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace avw::core {

/// Seconds since the epoch of an RFC 3339 timestamp as the API server writes them
/// (`2026-11-23T17:09:07Z`, optional fraction, `Z` or `+hh:mm`); nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
/// RFC 3339 in UTC with seconds (`2026-12-06T18:26:27Z`), as the API server writes times.
std::string format_rfc3339(std::int64_t seconds_since_epoch);

}  // namespace avw::core
