#include "avw/core/rfc3339.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>

namespace avw::core {
namespace {

// Reads exactly `n` ASCII digits at `pos`, advancing it.
std::optional<int> read_digits(std::string_view text, std::size_t& pos, std::size_t n) {
  if (text.size() - pos < n) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

bool is_leap(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(std::int64_t year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date. Counting years from March puts the
// leap day at the end of the year, so the day of the year is a linear function of the month.
std::int64_t days_since_epoch(std::int64_t year, int month, int day) {
  const std::int64_t y = month <= 2 ? year - 1 : year;
  const std::int64_t month_from_march = (month + 9) % 12;  // March = 0, ..., February = 11
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
  const std::int64_t days_from_year_0 =
      365 * y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400) + day_of_year;
  constexpr std::int64_t kDaysFromYear0ToEpoch = 719468;  // 0000-03-01 .. 1970-01-01
  return days_from_year_0 - kDaysFromYear0ToEpoch;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::size_t pos = 0;
  auto expect = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  auto year = read_digits(text, pos, 4);
  if (!year || !expect('-')) return std::nullopt;
  auto month = read_digits(text, pos, 2);
  if (!month || !expect('-')) return std::nullopt;
  auto day = read_digits(text, pos, 2);
  if (!day || !(expect('T') || expect('t'))) return std::nullopt;
  auto hour = read_digits(text, pos, 2);
  if (!hour || !expect(':')) return std::nullopt;
  auto minute = read_digits(text, pos, 2);
  if (!minute || !expect(':')) return std::nullopt;
  auto second = read_digits(text, pos, 2);
  if (!second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  if (expect('.')) {
    // Sub-second precision does not matter for ordering VPAs or gating on history.
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset_seconds = 0;
  if (expect('Z') || expect('z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    auto offset_hour = read_digits(text, pos, 2);
    if (!offset_hour || !expect(':')) return std::nullopt;
    auto offset_minute = read_digits(text, pos, 2);
    if (!offset_minute || *offset_hour > 23 || *offset_minute > 59) return std::nullopt;
    offset_seconds = (std::int64_t{*offset_hour} * 60 + *offset_minute) * 60;
    if (negative) offset_seconds = -offset_seconds;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t local = days_since_epoch(*year, *month, *day) * 86400 +
                             std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 + *second;
  return local - offset_seconds;
}

std::string format_rfc3339(std::int64_t seconds_since_epoch) {
  using namespace std::chrono;
  const sys_seconds t{seconds(seconds_since_epoch)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                              static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                              static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                              static_cast<int>(hms.seconds().count()));
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

}  // namespace avw::core
