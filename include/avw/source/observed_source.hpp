// File: observed_source.hpp
//
// A recommendation source whose every published snapshot is also handed to an observer (the
// closed loop decides with the same snapshot the workers do), on the control context.
//
//   auto source = source::observed(make_source(...), [&](auto s) { loop->publish(s); });
#pragma once

#include <memory>

#include "avw/source/source.hpp"

namespace avw::source {

std::unique_ptr<RecommendationSource> observed(std::unique_ptr<RecommendationSource> inner, Publish observer);

}  // namespace avw::source
