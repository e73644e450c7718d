// Tests of the test helpers themselves: a wrong JSON Patch applier would let invalid webhook
// patches pass, so it is held to RFC 6902 (the examples of its appendix A among others).
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "support/json_patch.hpp"

namespace {

using avw::test::apply_json_patch;
using avw::test::json_at;
using avw::test::json_has;
using Catch::Matchers::Contains;

struct PatchCase {
  std::string name;
  std::string document;
  std::string patch;
  std::string expected;
};

}  // namespace

TEST_CASE("json patch operations apply as RFC 6902 describes", "[json_patch]") {
  const PatchCase c = GENERATE(values<PatchCase>({
      {"add creates an object member (A.1)", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
       R"({"foo":"bar","baz":"qux"})"},
      {"add inserts into an array (A.2)", R"({"foo":["bar","baz"]})",
       R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})"},
      {"add at index 0 inserts first", R"({"a":[1,2]})", R"([{"op":"add","path":"/a/0","value":0}])",
       R"({"a":[0,1,2]})"},
      {"add at the array size appends", R"({"a":[1,2]})", R"([{"op":"add","path":"/a/2","value":3}])",
       R"({"a":[1,2,3]})"},
      {"add with - appends", R"({"a":[1]})", R"([{"op":"add","path":"/a/-","value":{"b":2}}])",
       R"({"a":[1,{"b":2}]})"},
      {"add replaces an existing member", R"({"a":{"b":1}})", R"([{"op":"add","path":"/a","value":{}}])",
       R"({"a":{}})"},
      {"add of a nested member (A.10)", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])", R"({"foo":"bar","child":{"grandchild":{}}})"},
      {"add of an array value (A.16)", R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
       R"({"foo":["bar",["abc","def"]]})"},
      {"add at the root replaces the document", R"({"a":1})", R"([{"op":"add","path":"","value":[true]}])",
       R"([true])"},
      {"~1 in a token is a slash", R"({"metadata":{}})",
       R"([{"op":"add","path":"/metadata/airflow-vpa-webhook.io~1vpa","value":"etl"}])",
       R"({"metadata":{"airflow-vpa-webhook.io/vpa":"etl"}})"},
      {"~01 is ~1, not a slash (A.14)", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
       R"({"/":9,"~1":10})"},
      {"~0 in a token is a tilde", R"({})", R"([{"op":"add","path":"/a~0b","value":1}])", R"({"a~b":1})"},
      {"the empty token names the empty key", R"({"":{}})", R"([{"op":"add","path":"//x","value":1}])",
       R"({"":{"x":1}})"},
      {"remove deletes a member (A.3)", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
       R"({"foo":"bar"})"},
      {"remove deletes an array element (A.4)", R"({"foo":["bar","qux","baz"]})",
       R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})"},
      {"replace sets an existing value (A.5)", R"({"baz":"qux","foo":"bar"})",
       R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})"},
      {"move renames a member (A.6)", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
       R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
       R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
      {"move reorders an array (A.7)", R"({"foo":["all","grass","cows","eat"]})",
       R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])", R"({"foo":["all","cows","eat","grass"]})"},
      {"copy duplicates a value", R"({"a":{"b":[1]}})", R"([{"op":"copy","from":"/a","path":"/c"}])",
       R"({"a":{"b":[1]},"c":{"b":[1]}})"},
      {"test passes on an equal value (A.8)", R"({"baz":"qux","foo":["a",2,"c"]})",
       R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
       R"({"baz":"qux","foo":["a",2,"c"]})"},
      {"operations apply in order", R"({})",
       R"([{"op":"add","path":"/r","value":{}},{"op":"add","path":"/r/req","value":{}},{"op":"add","path":"/r/req/cpu","value":"250m"}])",
       R"({"r":{"req":{"cpu":"250m"}}})"},
      {"an empty patch changes nothing", R"({"a":[1,{"b":null}]})", R"([])", R"({"a":[1,{"b":null}]})"},
  }));
  INFO(c.name);
  CHECK(apply_json_patch(c.document, c.patch) == c.expected);
}

TEST_CASE("json patch operations that do not apply throw, as in the API server", "[json_patch]") {
  const PatchCase c = GENERATE(values<PatchCase>({
      {"add to a missing parent (A.12)", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])",
       "parent does not exist"},
      {"add under a missing resources object", R"({"spec":{"containers":[{"name":"base"}]}})",
       R"([{"op":"add","path":"/spec/containers/0/resources/requests","value":{}}])", "parent does not exist"},
      {"add past the end of an array", R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":2}])", "out of range"},
      {"add at an index with a leading zero", R"({"a":[1]})", R"([{"op":"add","path":"/a/01","value":2}])",
       "out of range"},
      {"add at a negative index", R"({"a":[1]})", R"([{"op":"add","path":"/a/-1","value":2}])", "out of range"},
      {"add below a scalar", R"({"a":"x"})", R"([{"op":"add","path":"/a/b","value":2}])", "neither an object"},
      {"add to a missing array element", R"({"a":[]})", R"([{"op":"add","path":"/a/0/b","value":1}])",
       "parent does not exist"},
      {"replace of a missing member", R"({"a":1})", R"([{"op":"replace","path":"/b","value":2}])", "no such value"},
      {"remove of a missing member", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", "no such value"},
      {"remove of the document", R"({"a":1})", R"([{"op":"remove","path":""}])", "whole document"},
      {"test of a different value (A.9)", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])",
       "value differs"},
      {"test of a number against a string (A.15)", R"({"/":9,"~1":10})",
       R"([{"op":"test","path":"/~01","value":"10"}])", "value differs"},
      {"move into its own child", R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/c"}])", "own child"},
      {"a later failing operation", R"({})",
       R"([{"op":"add","path":"/a","value":1},{"op":"add","path":"/b/c","value":2}])", "parent does not exist"},
      {"an unknown op", R"({})", R"([{"op":"merge","path":"/a","value":1}])", "unknown op"},
      {"an operation without op", R"({})", R"([{"path":"/a","value":1}])", "has no \"op\""},
      {"an add without value", R"({})", R"([{"op":"add","path":"/a"}])", "has no \"value\""},
      {"a path that is not a string", R"({})", R"([{"op":"add","path":1,"value":1}])", "is not a string"},
      {"a pointer without a leading slash", R"({"a":1})", R"([{"op":"replace","path":"a","value":2}])",
       "does not start with '/'"},
      {"a pointer with a bad escape", R"({"a~2":1})", R"([{"op":"replace","path":"/a~2","value":2}])",
       "invalid '~' escape"},
      {"a patch that is not an array", R"({})", R"({"op":"add","path":"/a","value":1})", "not a JSON array"},
      {"an operation that is not an object", R"({})", R"(["add"])", "not an object"},
      {"a document that is not JSON", R"({"a":)", R"([])", "document is not valid JSON"},
      {"a patch that is not JSON", R"({})", R"([{"op":)", "patch is not valid JSON"},
  }));
  INFO(c.name);
  CHECK_THROWS_WITH(apply_json_patch(c.document, c.patch), Contains(c.expected));
}

TEST_CASE("json_at returns strings unquoted and other values as compact JSON", "[json_patch]") {
  const std::string doc = R"({"a": {"b": [ "x", 2, true, null, {"c" : [ ]} ]}, "k/~": "v", "s": "q\"uote"})";
  const auto [pointer, expected] = GENERATE(table<std::string, std::string>({
      {"/a/b/0", "x"},
      {"/a/b/1", "2"},
      {"/a/b/2", "true"},
      {"/a/b/3", "null"},
      {"/a/b/4", R"({"c":[]})"},
      {"/a/b/4/c", "[]"},
      {"/k~1~0", "v"},
      {"/s", "q\"uote"},
      {"", R"({"a":{"b":["x",2,true,null,{"c":[]}]},"k/~":"v","s":"q\"uote"})"},
  }));
  INFO(pointer);
  CHECK(json_at(doc, pointer) == expected);
  CHECK(json_has(doc, pointer));
}

TEST_CASE("json_at throws and json_has is false for a missing value", "[json_patch]") {
  const std::string doc = R"({"a":{"b":[1]},"n":null})";
  const std::string pointer = GENERATE("/x", "/a/c", "/a/b/1", "/a/b/-", "/a/b/01", "/a/b/0/z", "/n/x");
  INFO(pointer);
  CHECK_THROWS_WITH(json_at(doc, pointer), Contains("no value at " + pointer));
  CHECK_FALSE(json_has(doc, pointer));
}

TEST_CASE("json_has counts null as a value", "[json_patch]") {
  CHECK(json_has(R"({"n":null})", "/n"));
  CHECK(json_at(R"({"n":null})", "/n") == "null");
}

TEST_CASE("json_pointers lists every value in document order, escaped", "[json_patch]") {
  const std::vector<std::string> expected = {"/a", "/a/0", "/a/1", "/a/1/b~1c", "/~0", "/e"};
  CHECK(avw::test::json_pointers(R"({"a":[1,{"b/c":null}],"~":{},"e":""})") == expected);
  CHECK(avw::test::json_pointers("7").empty());
}

TEST_CASE("json_string quotes and escapes text as a JSON string", "[json_patch]") {
  CHECK(avw::test::json_string("plain") == R"("plain")");
  CHECK(avw::test::json_string("k:{\"name\":\"base\"}\\\n") == R"("k:{\"name\":\"base\"}\\\n")");
  CHECK(avw::test::json_string(std::string("a\0b", 3)) == R"("a\u0000b")");
}

TEST_CASE("fixtures are read from the fixtures directory", "[fixtures]") {
  const std::string body = avw::test::read_fixture("admission/kpo-pod.json");
  CHECK(json_at(body, "/kind") == "AdmissionReview");
}

TEST_CASE("a missing fixture throws an error naming its path", "[fixtures]") {
  CHECK_THROWS_AS(avw::test::read_fixture("admission/no-such-file.json"), std::runtime_error);
  CHECK_THROWS_WITH(avw::test::read_fixture("admission/no-such-file.json"),
                    Contains("fixtures/admission/no-such-file.json"));
}
