// Decoding of a v1 LimitRange: its Container and Pod items, which bound a recommendation.
#include <rapidjson/document.h>

#include <string>
#include <utility>

#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

using rapidjson::SizeType;
using rapidjson::Value;
using namespace json_fields;

LimitRange decode_limit_range(const Value& object) {
  LimitRange range;
  range.meta = decode_meta(object);
  const Value* spec = opt_object(object, "spec", "");
  if (spec == nullptr) return range;
  const Value* limits = opt_array(*spec, "limits", "spec");
  if (limits == nullptr) return range;
  range.items.reserve(limits->Size());
  for (SizeType i = 0; i < limits->Size(); ++i) {
    const Value& item = (*limits)[i];
    std::string path = indexed_path("spec.limits", i);
    if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
    LimitRangeItem out;
    auto type = opt_string(item, "type", path).value_or("");
    out.type = type == "Container" ? LimitRangeItem::Type::Container
               : type == "Pod"     ? LimitRangeItem::Type::Pod
                                   : LimitRangeItem::Type::Other;
    out.min = decode_resources(find(item, "min"), join_path(path, "min"));
    out.max = decode_resources(find(item, "max"), join_path(path, "max"));
    out.default_limit = decode_resources(find(item, "default"), join_path(path, "default"));
    out.default_request =
        decode_resources(find(item, "defaultRequest"), join_path(path, "defaultRequest"));
    out.max_limit_request_ratio = decode_resources(find(item, "maxLimitRequestRatio"),
                                                   join_path(path, "maxLimitRequestRatio"));
    range.items.push_back(std::move(out));
  }
  return range;
}

}  // namespace avw::core
