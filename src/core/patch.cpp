#include "avw/core/patch.hpp"

#include <cstddef>

#include "avw/core/json_writer.hpp"

namespace avw::core {

std::string patch_to_json(const std::vector<PatchOp>& patch) {
  std::size_t size = 2;
  for (const PatchOp& op : patch) size += 32 + op.path.size() + (op.value ? op.value->size() : 0);
  std::string out;
  out.reserve(size);
  out += '[';
  for (const PatchOp& op : patch) {
    if (out.size() > 1) out += ',';
    out += R"({"op":"add","path":)";
    append_json_string(out, op.path);
    out += R"(,"value":)";
    if (op.value) {
      append_json_string(out, *op.value);
    } else {
      out += "{}";
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace avw::core
