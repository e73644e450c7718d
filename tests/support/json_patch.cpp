#include "support/json_patch.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>

namespace avw::test {
namespace {

using Document = rapidjson::Document;
using Value = rapidjson::Value;
using Allocator = Document::AllocatorType;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

Document parse(std::string_view text, std::string_view what) {
  Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (document.HasParseError()) {
    fail(std::string(what) + " is not valid JSON: " + rapidjson::GetParseError_En(document.GetParseError()) +
         " (at byte " + std::to_string(document.GetErrorOffset()) + ")");
  }
  return document;
}

std::string serialize(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string_view view_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

Value string_value(std::string_view s, Allocator& allocator) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), allocator);
}

// RFC 6901: the pointer is "" (the whole document) or a sequence of "/token"; in a token
// "~1" stands for "/" and "~0" for "~", and "~" followed by anything else is an error.
std::vector<std::string> parse_pointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') fail("JSON pointer \"" + std::string(pointer) + "\" does not start with '/'");
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    const char c = pointer[i];
    if (c == '/') {
      tokens.emplace_back();
    } else if (c == '~') {
      const char next = i + 1 < pointer.size() ? pointer[i + 1] : '\0';
      if (next != '0' && next != '1') {
        fail("JSON pointer \"" + std::string(pointer) + "\" has an invalid '~' escape");
      }
      tokens.back() += next == '0' ? '~' : '/';
      ++i;
    } else {
      tokens.back() += c;
    }
  }
  return tokens;
}

// An array index as RFC 6901 spells it: "0" or digits without a leading zero.
std::optional<rapidjson::SizeType> array_index(const std::string& token) {
  if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return std::nullopt;
  rapidjson::SizeType index = 0;
  for (const char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<rapidjson::SizeType>(c - '0');
  }
  return index;
}

Value::MemberIterator find_member(Value& object, std::string_view name) {
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (view_of(it->name) == name) return it;
  }
  return object.MemberEnd();
}

Value* child(Value& parent, const std::string& token) {
  if (parent.IsObject()) {
    const auto it = find_member(parent, token);
    return it == parent.MemberEnd() ? nullptr : &it->value;
  }
  if (parent.IsArray()) {
    const auto index = array_index(token);
    return index && *index < parent.Size() ? &parent[*index] : nullptr;
  }
  return nullptr;
}

// The value at the first `count` tokens, or nullptr.
Value* resolve(Value& root, const std::vector<std::string>& tokens, std::size_t count) {
  Value* current = &root;
  for (std::size_t i = 0; i < count && current != nullptr; ++i) current = child(*current, tokens[i]);
  return current;
}

Value* resolve(Value& root, const std::vector<std::string>& tokens) {
  return resolve(root, tokens, tokens.size());
}

class Patcher {
 public:
  explicit Patcher(Document& document) : document_(document), allocator_(document.GetAllocator()) {}

  void add(std::string_view path, const Value& value) {
    const auto tokens = parse_pointer(path);
    if (tokens.empty()) {
      document_.CopyFrom(value, allocator_);
      return;
    }
    Value* parent = resolve(document_, tokens, tokens.size() - 1);
    if (parent == nullptr) fail("add " + std::string(path) + ": the parent does not exist");
    const std::string& last = tokens.back();
    if (parent->IsObject()) {
      const auto it = find_member(*parent, last);
      if (it != parent->MemberEnd()) {
        it->value.CopyFrom(value, allocator_);
      } else {
        parent->AddMember(string_value(last, allocator_), Value(value, allocator_), allocator_);
      }
    } else if (parent->IsArray()) {
      if (last == "-") {
        parent->PushBack(Value(value, allocator_), allocator_);
        return;
      }
      const auto index = array_index(last);
      if (!index || *index > parent->Size()) {
        fail("add " + std::string(path) + ": array index is invalid or out of range");
      }
      // RapidJSON has no insert: append, then rotate the new element into place.
      parent->PushBack(Value(value, allocator_), allocator_);
      for (rapidjson::SizeType i = parent->Size() - 1; i > *index; --i) (*parent)[i].Swap((*parent)[i - 1]);
    } else {
      fail("add " + std::string(path) + ": the parent is neither an object nor an array");
    }
  }

  void remove(std::string_view path) {
    const auto tokens = parse_pointer(path);
    if (tokens.empty()) fail("remove: cannot remove the whole document");
    Value* parent = resolve(document_, tokens, tokens.size() - 1);
    if (parent == nullptr || child(*parent, tokens.back()) == nullptr) {
      fail("remove " + std::string(path) + ": no such value");
    }
    if (parent->IsObject()) {
      parent->EraseMember(find_member(*parent, tokens.back()));
    } else {
      parent->Erase(parent->Begin() + *array_index(tokens.back()));
    }
  }

  void replace(std::string_view path, const Value& value) {
    Value* target = resolve(document_, parse_pointer(path));
    if (target == nullptr) fail("replace " + std::string(path) + ": no such value");
    target->CopyFrom(value, allocator_);
  }

  void test(std::string_view path, const Value& value) {
    Value* target = resolve(document_, parse_pointer(path));
    if (target == nullptr) fail("test " + std::string(path) + ": no such value");
    if (*target != value) fail("test " + std::string(path) + ": value differs: " + serialize(*target));
  }

  void copy(std::string_view from, std::string_view path) {
    Value* source = resolve(document_, parse_pointer(from));
    if (source == nullptr) fail("copy from " + std::string(from) + ": no such value");
    const Value value(*source, allocator_);  // deep copy: the add may move the source
    add(path, value);
  }

  void move(std::string_view from, std::string_view path) {
    if (path.size() > from.size() && path.substr(0, from.size()) == from && path[from.size()] == '/') {
      fail("move " + std::string(from) + " into its own child " + std::string(path));
    }
    Value* source = resolve(document_, parse_pointer(from));
    if (source == nullptr) fail("move from " + std::string(from) + ": no such value");
    const Value value(*source, allocator_);
    remove(from);
    add(path, value);
  }

 private:
  Document& document_;
  Allocator& allocator_;
};

std::string_view string_field(const Value& op, std::string_view name, std::size_t index) {
  for (auto it = op.MemberBegin(); it != op.MemberEnd(); ++it) {
    if (view_of(it->name) == name) {
      if (!it->value.IsString()) {
        fail("patch operation " + std::to_string(index) + ": \"" + std::string(name) + "\" is not a string");
      }
      return view_of(it->value);
    }
  }
  fail("patch operation " + std::to_string(index) + " has no \"" + std::string(name) + "\"");
}

const Value& value_field(const Value& op, std::size_t index) {
  for (auto it = op.MemberBegin(); it != op.MemberEnd(); ++it) {
    if (view_of(it->name) == "value") return it->value;
  }
  fail("patch operation " + std::to_string(index) + " has no \"value\"");
}

}  // namespace

std::string apply_json_patch(std::string_view document_json, std::string_view patch_json) {
  Document document = parse(document_json, "document");
  const Document patch = parse(patch_json, "patch");
  if (!patch.IsArray()) fail("patch is not a JSON array");
  Patcher patcher(document);
  std::size_t index = 0;
  for (const Value& op : patch.GetArray()) {
    if (!op.IsObject()) fail("patch operation " + std::to_string(index) + " is not an object");
    const std::string_view name = string_field(op, "op", index);
    const std::string_view path = string_field(op, "path", index);
    if (name == "add") {
      patcher.add(path, value_field(op, index));
    } else if (name == "remove") {
      patcher.remove(path);
    } else if (name == "replace") {
      patcher.replace(path, value_field(op, index));
    } else if (name == "test") {
      patcher.test(path, value_field(op, index));
    } else if (name == "copy") {
      patcher.copy(string_field(op, "from", index), path);
    } else if (name == "move") {
      patcher.move(string_field(op, "from", index), path);
    } else {
      fail("patch operation " + std::to_string(index) + " has an unknown op \"" + std::string(name) + "\"");
    }
    ++index;
  }
  return serialize(document);
}

std::string json_at(std::string_view document_json, std::string_view pointer) {
  Document document = parse(document_json, "document");
  const Value* value = resolve(document, parse_pointer(pointer));
  if (value == nullptr) fail("no value at " + std::string(pointer));
  if (value->IsString()) return std::string(view_of(*value));
  return serialize(*value);
}

bool json_has(std::string_view document_json, std::string_view pointer) {
  Document document = parse(document_json, "document");
  return resolve(document, parse_pointer(pointer)) != nullptr;
}

namespace {

void collect_pointers(const Value& value, const std::string& prefix, std::vector<std::string>& out) {
  auto push = [&](std::string_view token) {
    std::string pointer = prefix + "/";
    for (const char c : token) {
      if (c == '~') {
        pointer += "~0";
      } else if (c == '/') {
        pointer += "~1";
      } else {
        pointer += c;
      }
    }
    out.push_back(pointer);
    return pointer;
  };
  if (value.IsObject()) {
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      collect_pointers(it->value, push(view_of(it->name)), out);
    }
  } else if (value.IsArray()) {
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) collect_pointers(value[i], push(std::to_string(i)), out);
  }
}

}  // namespace

std::string json_string(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return {buffer.GetString(), buffer.GetSize()};
}

std::vector<std::string> json_pointers(std::string_view document_json) {
  const Document document = parse(document_json, "document");
  std::vector<std::string> out;
  collect_pointers(document, "", out);
  return out;
}

}  // namespace avw::test
