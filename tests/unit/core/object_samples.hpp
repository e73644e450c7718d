// Helpers shared by the object decoders' tests: quantities, selectors and resource values
// written as text, and VPAs in a List.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"

namespace avw::test::object_samples {

using core::DecodedObjects;
using core::decode_objects;
using core::Quantity;
using core::Resource;
using core::ResourceValues;
using core::Selector;

inline Quantity q(std::string_view text) {
  auto parsed = Quantity::parse(text);
  INFO("quantity: " << text);
  REQUIRE(parsed);
  return *parsed;
}

inline Selector sel(std::string_view text) {
  auto parsed = Selector::parse(text);
  INFO("selector: " << text);
  REQUIRE(parsed);
  return *parsed;
}

inline ResourceValues values(std::optional<std::string_view> cpu, std::optional<std::string_view> memory) {
  ResourceValues out;
  if (cpu) out[Resource::Cpu] = q(*cpu);
  if (memory) out[Resource::Memory] = q(*memory);
  return out;
}

inline std::string text_of(const std::optional<Quantity>& quantity) {
  return quantity ? quantity->to_string() : "<none>";
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

inline DecodedObjects decode_clean(std::string_view json) {
  DecodedObjects out = decode_objects(json);
  INFO(joined(out.errors));
  REQUIRE(out.errors.empty());
  return out;
}

// One VPA in a List, with `spec_extra` spliced into spec and `status` as the status object.
inline std::string vpa_json(std::string_view name, std::string_view spec_extra, std::string_view status) {
  std::string out = R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler",)"
                    R"("metadata":{"name":")";
  out += name;
  out += R"(","namespace":"airflow","creationTimestamp":"2026-11-23T17:09:07Z"},)"
         R"("spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1",)"
         R"("kind":"AirflowTask","name":"t"})";
  out += spec_extra;
  out += "}";
  if (!status.empty()) {
    out += R"(,"status":)";
    out += status;
  }
  out += "}";
  return out;
}

inline std::string list_of(const std::vector<std::string>& items) {
  std::string out = R"({"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[)";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += items[i];
  }
  return out + "]}";
}

}  // namespace avw::test::object_samples
