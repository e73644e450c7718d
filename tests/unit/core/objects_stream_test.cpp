// decode_objects() over a ChunkSource: however the bytes are cut, the result (objects, skipped
// objects, list metadata) and the errors are those of the whole document.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "support/fixtures.hpp"

namespace {

using avw::core::ChunkSource;
using avw::core::DecodedObjects;
using avw::core::DecodeError;
using avw::core::decode_objects;

// Cuts `text` into chunks of `size` bytes.
ChunkSource fixed_chunks(std::string_view text, std::size_t size) {
  return [text, size, pos = std::size_t{0}]() mutable {
    std::string_view chunk = text.substr(pos, std::min(size, text.size() - pos));
    pos += chunk.size();
    return chunk;
  };
}

// Cuts `text` into chunks of 1 to 4096 bytes, from a fixed seed.
ChunkSource random_chunks(std::string_view text, unsigned seed) {
  return [text, pos = std::size_t{0}, rng = std::mt19937(seed)]() mutable {
    std::uniform_int_distribution<std::size_t> size(1, 4096);
    std::string_view chunk = text.substr(pos, std::min(size(rng), text.size() - pos));
    pos += chunk.size();
    return chunk;
  };
}

std::string error_of(const ChunkSource& source) {
  try {
    decode_objects(source);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string error_of(std::string_view text) {
  try {
    decode_objects(text);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "<no error>";
}

void check_same_in_chunks(std::string_view text) {
  const std::string whole_error = error_of(text);
  if (whole_error != "<no error>") {
    CHECK(error_of(fixed_chunks(text, 1)) == whole_error);
    CHECK(error_of(random_chunks(text, 7)) == whole_error);
    return;
  }
  const DecodedObjects whole = decode_objects(text);
  CHECK(decode_objects(fixed_chunks(text, 1)) == whole);
  CHECK(decode_objects(fixed_chunks(text, 3)) == whole);
  CHECK(decode_objects(random_chunks(text, 1)) == whole);
  CHECK(decode_objects(random_chunks(text, 2)) == whole);
}

std::string vpa_item(std::string_view name, std::string_view mode) {
  return R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":")" +
         std::string(name) + R"(","namespace":"etl","creationTimestamp":"2026-11-23T17:09:07Z"},)" +
         R"("spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"t"},)" +
         R"("updatePolicy":{"updateMode":")" + std::string(mode) + R"("}}})";
}

}  // namespace

TEST_CASE("every fixture decodes the same in 1-byte, 3-byte and random chunks", "[objects][stream]") {
  auto path = GENERATE(as<std::string>{}, "api/list-airflowtasks.json", "api/list-limitranges.json",
                       "api/list-vpas-page1.json", "api/list-vpas-page2.json", "api/scale-airflowtask.json",
                       "api/create-vpa-response.json", "api/error-404.json", "api/watch-410.json",
                       "recommender/checkpoints-nopods.json", "recommender/checkpoints-restart.json",
                       "recommender/checkpoints.json", "recommender/vpa-etl-load-executor.json",
                       "recommender/vpa-etl-load-nopods.json", "recommender/vpa-etl-load-restart.json",
                       "recommender/vpa-etl-load.json", "recommender/vpa-first.json",
                       "inputs/airflowtask-etl-daily-load.json", "inputs/vpa-ml-train-fit.json",
                       "stored/kpo-pod.json", "stored/executor-pod-with-limitrange.json", "stored/long-names.json",
                       "admission/kpo-pod.json");
  INFO(path);
  const std::string text = avw::test::read_fixture(path);
  check_same_in_chunks(text);
}

TEST_CASE("a list's items decode alike whether kind comes before or after them", "[objects][stream]") {
  const std::string items = "[" + vpa_item("a", "Off") + "," + vpa_item("bad", "Sometimes") + "," +
                            vpa_item("c", "Initial") + "]";
  const std::string streamed = R"({"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"7"},"items":)" +
                               items + "}";
  const std::string held = R"({"items":)" + items + R"(,"metadata":{"resourceVersion":"7"},"kind":"List"})";
  const DecodedObjects a = decode_objects(streamed);
  REQUIRE(a.vpas.size() == 2);
  CHECK(a.vpas[0].meta.name == "a");
  CHECK(a.vpas[1].meta.name == "c");
  REQUIRE(a.errors.size() == 1);
  CHECK(a.errors[0] ==
        R"(VerticalPodAutoscaler etl/bad: spec.updatePolicy.updateMode: unknown update mode "Sometimes")");
  CHECK(a.list_resource_version == "7");
  CHECK(decode_objects(held) == a);
  check_same_in_chunks(streamed);
  check_same_in_chunks(held);
}

TEST_CASE("a typed page gives its items its kind and apiVersion, before or after them", "[objects][stream]") {
  const std::string item = R"({"metadata":{"name":"limits","namespace":"etl"},"spec":{"limits":[{"type":"Container"}]}})";
  const std::string streamed = R"({"apiVersion":"v1","kind":"LimitRangeList","items":[)" + item + "]}";
  const std::string late_version = R"({"kind":"LimitRangeList","items":[)" + item + R"(],"apiVersion":"v1"})";
  const DecodedObjects a = decode_objects(streamed);
  REQUIRE(a.limit_ranges.size() == 1);
  CHECK(a.errors.empty());
  CHECK(decode_objects(late_version) == a);
  check_same_in_chunks(streamed);
  check_same_in_chunks(late_version);
}

TEST_CASE("odd documents decode as whole ones do, in chunks", "[objects][stream]") {
  auto text = GENERATE(as<std::string>{},
                       R"({"kind":"List","items":{"a":1}})",
                       R"({"kind":null,"items":[{"kind":"Pod"},3,[1,[2]],"x",null]})",
                       R"({"kind":3,"items":[]})",
                       R"({"kind":"List","kind":"Other","items":[3],"items":[{"kind":"Pod"}]})",
                       R"({"kind":"List","items":null,"items":[3]})",
                       R"({"items":[3]})",
                       "\xEF\xBB\xBF{\"kind\":\"List\",\"items\":[1]}",
                       R"({"apiVersion":"v1","kind":"List","items":[1,2)",
                       R"({"kind":"List","items":[]} x)",
                       "",
                       "   ",
                       "[1,2]",
                       "\"text\"",
                       R"({"kind":"List","items":[{"a":"\u00e9\ud83d\ude00"}]})");
  INFO(text);
  check_same_in_chunks(text);
}

TEST_CASE("a parse error names the offset in the whole document, however it is cut", "[objects][stream]") {
  const std::string text = R"({"apiVersion":"v1","kind":"List","items":[{"kind":"Pod"},{"kind":]})";
  const std::string error = error_of(text);
  CHECK(error == "objects: invalid JSON at offset 65: Invalid value.");
  CHECK(error_of(fixed_chunks(text, 1)) == error);
  // A leading byte-order mark is skipped and counted, as Document::Parse does.
  const std::string bom = "\xEF\xBB\xBF{\"kind\":1,}";
  CHECK(error_of(bom) == "objects: invalid JSON at offset 13: Missing a name for object member.");
  CHECK(error_of(fixed_chunks(bom, 1)) == error_of(bom));
}

TEST_CASE("an exception from the chunk source leaves decode_objects", "[objects][stream]") {
  int calls = 0;
  ChunkSource failing = [&]() -> std::string_view {
    if (calls++ == 0) return R"({"kind":"List","items":[)";
    throw std::runtime_error("cannot read");
  };
  CHECK_THROWS_WITH(decode_objects(failing), "cannot read");
}
