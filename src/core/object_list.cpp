// Decoding of a document of objects: a list (its items streamed when the document allows it)
// or a single object. Each object goes to decode_object() (object_dispatch.cpp).
#include "avw/core/object_list.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "json_fields.hpp"
#include "object_dispatch.hpp"

namespace avw::core {

namespace {

using rapidjson::SizeType;
using rapidjson::Value;
using namespace json_fields;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What a document holds besides the items already streamed (see ItemStreamer): a list's
// metadata and any items left in it, or one object.
void decode_document(const Value& doc, DecodedObjects& out) {
  const Value* kind_value = find(doc, "kind");
  std::string_view kind =
      kind_value != nullptr && kind_value->IsString() ? view_of(*kind_value) : std::string_view{};
  const Value* items = find(doc, "items");
  const bool is_list = ends_with(kind, "List") || (kind_value == nullptr && items != nullptr);
  if (!is_list) {
    decode_object(doc, {}, {}, "object", out);
    return;
  }

  if (const Value* md = find(doc, "metadata"); md != nullptr && md->IsObject()) {
    if (const Value* rv = find(*md, "resourceVersion"); rv != nullptr && rv->IsString()) {
      out.list_resource_version = view_of(*rv);
    }
    if (const Value* next = find(*md, "continue"); next != nullptr && next->IsString()) {
      out.list_continue = view_of(*next);
    }
  }
  // A typed page (`LimitRangeList`) omits apiVersion and kind on its items; a generic `List`
  // (kubectl) carries them on every item, so it gives no default.
  std::string_view default_kind =
      ends_with(kind, "List") ? kind.substr(0, kind.size() - 4) : std::string_view{};
  std::string_view default_api_version;
  if (!default_kind.empty()) {
    if (const Value* av = find(doc, "apiVersion"); av != nullptr && av->IsString()) {
      default_api_version = view_of(*av);
    }
  }

  if (items == nullptr) return;
  if (!items->IsArray()) {
    out.errors.push_back(std::string(kind.empty() ? "List" : one_line(std::string(kind))) +
                         ": items: expected an array, got " + type_name(*items));
    return;
  }
  for (SizeType i = 0; i < items->Size(); ++i) {
    decode_object((*items)[i], default_api_version, default_kind, indexed_path("items", i), out);
  }
}

// A RapidJSON input stream over the chunks of a ChunkSource. It behaves exactly like the
// MemoryStream that Document::Parse(str, length) reads (the same leading-BOM skip, '\0' at the
// end, offsets counted from the first byte), so errors read the same however the bytes arrive.
class ChunkStream {
 public:
  using Ch = char;

  explicit ChunkStream(const ChunkSource& next_chunk) : next_chunk_(next_chunk) {
    if (static_cast<unsigned char>(Peek()) == 0xEFu) Take();
    if (static_cast<unsigned char>(Peek()) == 0xBBu) Take();
    if (static_cast<unsigned char>(Peek()) == 0xBFu) Take();
  }
  ChunkStream(const ChunkStream&) = delete;
  ChunkStream& operator=(const ChunkStream&) = delete;

  Ch Peek() {
    if (pos_ == chunk_.size() && !fill()) return '\0';
    return chunk_[pos_];
  }
  Ch Take() {
    if (pos_ == chunk_.size() && !fill()) return '\0';
    ++consumed_;
    return chunk_[pos_++];
  }
  std::size_t Tell() const { return consumed_; }

  // Write side, unused: only in-situ parsing (not used here) writes to its stream.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  bool fill() {
    if (ended_) return false;
    chunk_ = next_chunk_();
    pos_ = 0;
    if (chunk_.empty()) ended_ = true;
    return !ended_;
  }

  const ChunkSource& next_chunk_;
  std::string_view chunk_;
  std::size_t pos_ = 0;
  std::size_t consumed_ = 0;
  bool ended_ = false;
};

// The SAX handler of decode_objects(). It builds the DOM of the document as Document would
// (members in order, duplicates kept, so FindMember sees the first), with one exception: once
// the top-level `kind` and, when needed, `apiVersion` say the document is a list, each element
// of its first `items` array is built alone, decoded with decode_object() and dropped, and `items`
// stays an empty array in the DOM. Peak memory is then one item, not the whole list.
class ItemStreamer {
 public:
  ItemStreamer(rapidjson::Document::AllocatorType& top, DecodedObjects& out, const ItemSink* sink)
      : top_(top), item_buffer_(64 * 1024), item_(item_buffer_.data(), item_buffer_.size()), out_(out),
        sink_(sink) {}
  ItemStreamer(const ItemStreamer&) = delete;
  ItemStreamer& operator=(const ItemStreamer&) = delete;

  /// The document, once parsed without error.
  const Value& root() const {
    assert(stack_.size() == 1);
    return stack_.front();
  }

  // rapidjson::Handler
  bool Null() { return scalar(Value()); }
  bool Bool(bool b) { return scalar(Value(b)); }
  bool Int(int i) { return scalar(Value(i)); }
  bool Uint(unsigned u) { return scalar(Value(u)); }
  bool Int64(std::int64_t i) { return scalar(Value(i)); }
  bool Uint64(std::uint64_t u) { return scalar(Value(u)); }
  bool Double(double d) { return scalar(Value(d)); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return String(s, n, copy); }
  bool String(const char* s, SizeType n, bool /*copy*/) { return scalar(Value(s, n, allocator())); }
  bool Key(const char* s, SizeType n, bool /*copy*/) {
    if (depth_ == 1) top_key_kind_ = classify(std::string_view(s, n));
    stack_.emplace_back(s, n, allocator());
    return true;
  }
  bool StartObject() {
    stack_.emplace_back(rapidjson::kObjectType);
    ++depth_;
    return true;
  }
  bool EndObject(SizeType count) {
    rapidjson::Document::AllocatorType& alloc = allocator();
    const std::size_t base = stack_.size() - 2 * std::size_t{count} - 1;
    Value& object = stack_[base];
    for (std::size_t i = base + 1; i < stack_.size(); i += 2) object.AddMember(stack_[i], stack_[i + 1], alloc);
    stack_.resize(base + 1);
    --depth_;
    return completed();
  }
  bool StartArray() {
    if (depth_ == 1 && top_key_kind_ == TopKey::Items && !items_seen_) {
      items_seen_ = true;
      streaming_ = streamable();
    }
    stack_.emplace_back(rapidjson::kArrayType);
    ++depth_;
    return true;
  }
  bool EndArray(SizeType count) {
    if (streaming_ && depth_ == 2) {
      // The end of the streamed items: each was decoded and dropped as it ended.
      streaming_ = false;
      --depth_;
      return completed();
    }
    rapidjson::Document::AllocatorType& alloc = allocator();
    const std::size_t base = stack_.size() - std::size_t{count} - 1;
    Value& array = stack_[base];
    array.Reserve(count, alloc);
    for (std::size_t i = base + 1; i < stack_.size(); ++i) array.PushBack(stack_[i], alloc);
    stack_.resize(base + 1);
    --depth_;
    return completed();
  }

 private:
  enum class TopKey : std::uint8_t { Other, Kind, ApiVersion, Items };
  // The first member of a name is the one FindMember, hence decode_document, reads.
  struct FirstMember {
    bool seen = false;
    bool is_string = false;
    bool is_null = false;
    std::string text;  // copied: short strings live inside their Value, which moves
  };

  static TopKey classify(std::string_view key) {
    if (key == "kind") return TopKey::Kind;
    if (key == "apiVersion") return TopKey::ApiVersion;
    if (key == "items") return TopKey::Items;
    return TopKey::Other;
  }

  // Items are allocated from a pool cleared after each one; everything else from the document.
  rapidjson::Document::AllocatorType& allocator() { return streaming_ && depth_ >= 2 ? item_ : top_; }

  bool scalar(Value&& v) {
    stack_.push_back(std::move(v));
    return completed();
  }

  // Called when a value has been pushed complete.
  bool completed() {
    if (streaming_ && depth_ == 2) {
      decode_object(stack_.back(), default_api_version_, default_kind_, indexed_path("items", item_index_++), out_);
      stack_.pop_back();
      item_.Clear();
      if (sink_ != nullptr && *sink_) (*sink_)(out_);
    } else if (depth_ == 1) {
      const Value& v = stack_.back();
      FirstMember* member = top_key_kind_ == TopKey::Kind         ? &kind_
                            : top_key_kind_ == TopKey::ApiVersion ? &api_version_
                                                                  : nullptr;
      if (member != nullptr && !member->seen) {
        member->seen = true;
        member->is_string = v.IsString();
        member->is_null = v.IsNull();
        if (member->is_string) member->text = view_of(v);
      }
      if (top_key_kind_ == TopKey::Items) items_seen_ = true;
      top_key_kind_ = TopKey::Other;
    }
    return true;
  }

  // Whether `items`, about to start, can be streamed: only when what decode_document() will
  // decide from `kind` and `apiVersion` is known already (they come first in what the API
  // server and kubectl write), and the document is a list.
  bool streamable() {
    if (!kind_.seen) return false;
    std::string_view kind;
    if (kind_.is_string) {
      kind = kind_.text;
      if (!ends_with(kind, "List")) return false;
    } else if (!kind_.is_null) {
      return false;  // `kind: 3`: not a list, one (bad) object
    }
    // (A null `kind` counts as absent: a document with items is then a generic list.)
    default_kind_ = kind.substr(0, kind.empty() ? 0 : kind.size() - 4);
    if (!default_kind_.empty()) {
      if (!api_version_.seen) return false;
      if (api_version_.is_string) default_api_version_ = api_version_.text;
    }
    return true;
  }

  rapidjson::Document::AllocatorType& top_;
  std::vector<char> item_buffer_;  // the item pool's first block, kept across Clear()
  rapidjson::Document::AllocatorType item_;
  DecodedObjects& out_;
  const ItemSink* sink_;
  std::vector<Value> stack_;  // values being built: containers, then keys and values in order
  int depth_ = 0;             // open containers
  TopKey top_key_kind_ = TopKey::Other;
  FirstMember kind_;
  FirstMember api_version_;
  bool items_seen_ = false;
  bool streaming_ = false;
  std::size_t item_index_ = 0;
  std::string_view default_kind_;         // views into kind_ and api_version_
  std::string_view default_api_version_;
};

}  // namespace

DecodedObjects decode_objects(const ChunkSource& next_chunk, const ItemSink& sink) {
  rapidjson::Document top;  // owns what the document holds besides a streamed list's items
  DecodedObjects out;
  ItemStreamer streamer(top.GetAllocator(), out, &sink);
  ChunkStream stream(next_chunk);
  rapidjson::Reader reader;
  // Iterative parsing: nesting depth cannot exhaust the stack, whatever the input.
  reader.Parse<rapidjson::kParseIterativeFlag>(stream, streamer);
  if (reader.HasParseError()) {
    throw DecodeError("objects: invalid JSON at offset " + std::to_string(reader.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(reader.GetParseErrorCode()));
  }
  const Value& doc = streamer.root();
  if (!doc.IsObject()) throw DecodeError(std::string("objects: expected a JSON object, got ") + type_name(doc));
  decode_document(doc, out);
  return out;
}

DecodedObjects decode_objects(const ChunkSource& next_chunk) { return decode_objects(next_chunk, ItemSink()); }

DecodedObjects decode_objects(std::string_view json) {
  bool given = false;
  return decode_objects(ChunkSource([&]() -> std::string_view {
    if (given) return {};
    given = true;
    return json;
  }));
}
}  // namespace avw::core
