#include "avw/core/selector.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace {

using avw::core::LabelSet;
using avw::core::Requirement;
using avw::core::Selector;
using Op = Requirement::Operator;

Selector parsed(std::string_view text) {
  std::string error;
  auto s = Selector::parse(text, &error);
  INFO("selector: " << text << "  error: " << error);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("a label set adds new keys and replaces existing ones", "[selector]") {
  LabelSet labels{{"app", "web"}};
  labels.set("tier", "front");
  labels.set("app", "api");
  CHECK(labels.size() == 2);
  CHECK(labels.get("app") == "api");
  CHECK(labels.get("tier") == "front");
  CHECK_FALSE(labels.get("missing"));
  CHECK(labels.contains("tier"));
  CHECK_FALSE(LabelSet{}.contains("app"));
}

TEST_CASE("label keys follow the Kubernetes qualified-name rules", "[selector]") {
  const std::string name63(63, 'a');
  const std::string prefix253 = std::string(126, 'a') + "." + std::string(126, 'b');
  auto [key, valid] = GENERATE_COPY(table<std::string, bool>({
      {"app", true},
      {"a", true},
      {"A.b_c-9", true},
      {"example.com/app", true},
      {"kubernetes.io/Name", true},
      {name63, true},
      {prefix253 + "/x", true},
      {"", false},
      {name63 + "a", false},
      {prefix253 + "c/x", false},
      {"-app", false},
      {"app_", false},
      {"a b", false},
      {"a/b/c", false},
      {"/app", false},
      {"example.com/", false},
      {"Example.com/app", false},
      {"example..com/app", false},
      {"example_com/app", false},
      {"-example.com/app", false},
      {"app\n", false},
  }));
  INFO("key: " << key);
  CHECK(avw::core::is_valid_label_key(key) == valid);
}

TEST_CASE("label values are empty or short qualified tokens", "[selector]") {
  auto [value, valid] = GENERATE(table<std::string, bool>({
      {"", true},
      {"True", true},
      {"etl_daily.v2-x", true},
      {std::string(63, 'z'), true},
      {std::string(64, 'z'), false},
      {"_x", false},
      {"x.", false},
      {"a/b", false},
      {"a b", false},
      {"\xc3\xa9", false},
  }));
  INFO("value: " << value);
  CHECK(avw::core::is_valid_label_value(value) == valid);
}

TEST_CASE("every string operator parses to its requirement and canonical text", "[selector]") {
  auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"", ""},
      {" \t\r\n ", ""},
      {"a=b", "a=b"},
      {"a==b", "a=b"},
      {"a!=b", "a!=b"},
      {"a=", "a="},
      {"a!=", "a!="},
      {"a in (y,x,x)", "a in (x,y)"},
      {"a notin (x)", "a notin (x)"},
      {"a in ()", "a in ()"},
      {"a in (,)", "a in ()"},
      {"a in (,x)", "a in (,x)"},
      {"a in (x,)", "a in (,x)"},
      {"a", "a"},
      {"!a", "!a"},
      {"z=1,a=2", "a=2,z=1"},
      {"  a  =  b ,  ! c , d in( x , y ),e  notin(z)", "a=b,!c,d in (x,y),e notin (z)"},
      {"in in (in,notin),notin=in", "in in (in,notin),notin=in"},
      {"!example.com/canary,example.com/app=web", "example.com/app=web,!example.com/canary"},
      {"dag_id=etl,task_id=load,!kubernetes_executor", "dag_id=etl,!kubernetes_executor,task_id=load"},
  }));
  const Selector s = parsed(text);
  CHECK(s.to_string() == canonical);
  CHECK(s.empty() == canonical.empty());
  // The canonical text is itself a selector with the same meaning.
  CHECK(parsed(s.to_string()) == s);
}

TEST_CASE("parsed requirements are sorted by key with sorted unique values", "[selector]") {
  const Selector s = parsed("b notin (z,y,z),a,!c,b==x");
  const std::vector<Requirement> expected{
      {"a", Op::Exists, {}},
      {"b", Op::Equals, {"x"}},
      {"b", Op::NotIn, {"y", "z"}},
      {"c", Op::DoesNotExist, {}},
  };
  CHECK(s.requirements() == expected);
  CHECK(Selector(expected) == s);
}

TEST_CASE("malformed selectors are rejected with a one-line reason", "[selector]") {
  const std::string long_name(64, 'k');
  auto [text, reason] = GENERATE_COPY(table<std::string, std::string>({
      {"a=b,", "found end of string at offset 4, expected a key or '!key' after ','"},
      {",a=b", "found \",\" at offset 0, expected a key, '!key' or end of string"},
      {"a=b,,c", "found \",\" at offset 4"},
      {"a b", "found \"b\" at offset 2, expected an operator"},
      {"a=b c", "found \"c\" at offset 4, expected ',' or end of string"},
      {"a=b)", "found \")\" at offset 3, expected ',' or end of string"},
      {"a=(b)", "found \"(\" at offset 2, expected a value"},
      {"a==!b", "expected a value"},
      {"!a=b", "'!key' takes no operator"},
      {"!", "found end of string at offset 1, expected a label key"},
      {"a in", "expected '(' after 'in' or 'notin'"},
      {"a in b", "found \"b\" at offset 5, expected '('"},
      {"a in (b", "found end of string at offset 7, expected ',' or ')'"},
      {"a in (b c)", "found \"c\" at offset 8, expected ',' or ')'"},
      {"a in (b,=)", "found \"=\" at offset 8, expected a value, ',' or ')'"},
      {"a notin ((b))", "found \"(\" at offset 9"},
      {"a>1", "the numeric operator \">\" at offset 1 is not supported"},
      {"a<1", "the numeric operator \"<\""},
      {"Bad_/key=x", "invalid label key \"Bad_/key\": prefix part must be a lowercase DNS-1123 subdomain"},
      {"a/b/c", "invalid label key \"a/b/c\""},
      {long_name, "name part must be no more than 63 characters"},
      {"-a=b", "invalid label key \"-a\""},
      {"a=-b", "invalid value \"-b\" for label key \"a\""},
      {"a in (ok,bad_)", "invalid value \"bad_\" for label key \"a\""},
      {"a=" + long_name, "must be no more than 63 characters"},
      {"a=\x01\xff", "invalid value \"\\x01\\xff\""},
  }));
  INFO("selector: " << text);
  std::string error;
  CHECK_FALSE(Selector::parse(text, &error));
  CHECK_THAT(error, Catch::Contains(reason));
  CHECK_THAT(error, Catch::StartsWith("invalid label selector: "));
  CHECK(error.find('\n') == std::string::npos);
  CHECK_FALSE(Selector::parse(text));  // no error sink is fine too
}

TEST_CASE("untrusted text in an error is escaped and cut short", "[selector]") {
  std::string error;
  CHECK_FALSE(Selector::parse("a=\"" + std::string(200, 'x'), &error));
  CHECK_THAT(error, Catch::Contains("\"\\x22xxx"));
  CHECK_THAT(error, Catch::Contains("...\""));
  CHECK(error.size() < 200);
}

TEST_CASE("selectors match label sets with Kubernetes semantics", "[selector]") {
  const LabelSet etl{
      {"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_pod_operator", "True"}, {"empty", ""}};
  auto [text, expected] = GENERATE(table<std::string, bool>({
      {"", true},
      {"dag_id=etl", true},
      {"dag_id==etl", true},
      {"dag_id=other", false},
      {"missing=etl", false},
      {"dag_id!=etl", false},
      {"dag_id!=other", true},
      {"missing!=etl", true},  // an absent label is "not equal"
      {"dag_id in (a,etl)", true},
      {"dag_id in (a,b)", false},
      {"missing in (etl)", false},
      {"dag_id notin (etl)", false},
      {"dag_id notin (a,b)", true},
      {"missing notin (etl)", true},  // and "not in"
      {"kubernetes_pod_operator", true},
      {"kubernetes_executor", false},
      {"!kubernetes_executor", true},
      {"!kubernetes_pod_operator", false},
      {"empty=", true},
      {"empty", true},
      {"empty in ()", true},
      {"missing=", false},
      {"dag_id=etl,task_id=load,kubernetes_pod_operator=True", true},
      {"dag_id=etl,task_id=other", false},
      {"dag_id=etl,dag_id=other", false},
  }));
  INFO("selector: " << text);
  CHECK(parsed(text).matches(etl) == expected);
}

TEST_CASE("an empty selector matches everything and nothing() matches nothing", "[selector]") {
  const LabelSet some{{"a", "b"}};
  CHECK(Selector{}.empty());
  CHECK(Selector{}.matches(some));
  CHECK(Selector{}.matches(LabelSet{}));
  CHECK_FALSE(Selector::nothing().empty());
  CHECK(Selector::nothing().is_nothing());
  CHECK_FALSE(Selector::nothing().matches(some));
  CHECK_FALSE(Selector::nothing().matches(LabelSet{}));
  CHECK_FALSE(Selector::nothing() == Selector{});
}

TEST_CASE("structured selectors become the same requirements as their string form", "[selector]") {
  std::string error;
  const auto s = Selector::from_structured(
      {{"task_id", "load"}, {"dag_id", "etl"}},
      {{"tier", "In", {"b", "a"}},
       {"env", "NotIn", {"dev"}},
       {"kubernetes_pod_operator", "Exists", {}},
       {"kubernetes_executor", "DoesNotExist", {}}},
      &error);
  INFO(error);
  REQUIRE(s);
  CHECK(s->to_string() ==
        "dag_id=etl,env notin (dev),!kubernetes_executor,kubernetes_pod_operator,task_id=load,tier in (a,b)");
  CHECK(*s == parsed(s->to_string()));
  CHECK(s->matches(
      LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"tier", "a"}, {"kubernetes_pod_operator", "True"}}));
  CHECK_FALSE(s->matches(LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"tier", "a"}}));

  const auto everything = Selector::from_structured({}, {});
  REQUIRE(everything);
  CHECK(everything->empty());
}

TEST_CASE("invalid structured selectors say which expression is wrong", "[selector]") {
  using Expressions = std::vector<Selector::MatchExpression>;
  using Labels = std::vector<std::pair<std::string, std::string>>;
  auto [labels, expressions, reason] = GENERATE(table<Labels, Expressions, std::string>({
      {{}, {{"k", "In", {}}}, "operator In for label key \"k\" needs at least one value"},
      {{}, {{"k", "NotIn", {}}}, "operator NotIn for label key \"k\" needs at least one value"},
      {{}, {{"k", "Exists", {"x"}}}, "operator Exists for label key \"k\" takes no values"},
      {{}, {{"k", "DoesNotExist", {"x"}}}, "operator DoesNotExist for label key \"k\" takes no values"},
      {{}, {{"k", "Gt", {"1"}}}, "unknown match expression operator \"Gt\" for label key \"k\""},
      {{}, {{"k", "in", {"x"}}}, "unknown match expression operator \"in\""},
      {{}, {{"bad key", "Exists", {}}}, "invalid label key \"bad key\""},
      {{}, {{"k", "In", {"ok", "not ok"}}}, "invalid value \"not ok\" for label key \"k\""},
      {{{"k", "-v"}}, {}, "invalid value \"-v\" for label key \"k\""},
      {{{"", "v"}}, {}, "invalid label key \"\": name part must be non-empty"},
  }));
  std::string error;
  CHECK_FALSE(Selector::from_structured(labels, expressions, &error));
  CHECK_THAT(error, Catch::Contains(reason));
}

TEST_CASE("equality_value finds the one value a key must have", "[selector]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"dag_id=etl,task_id=load", "etl"},
      {"dag_id==etl", "etl"},
      {"dag_id in (etl)", "etl"},
      {"dag_id=etl,dag_id!=x", "etl"},
      {"dag_id=etl,dag_id in (etl)", "etl"},
      {"dag_id in (etl,x)", "-"},
      {"dag_id=etl,dag_id=x", "-"},
      {"dag_id!=etl", "-"},
      {"dag_id", "-"},
      {"task_id=load", "-"},
      {"", "-"},
  }));
  INFO("selector: " << text);
  const Selector s = parsed(text);  // the value is a view into the selector
  CHECK(s.equality_value("dag_id").value_or("-") == expected);
  CHECK_FALSE(Selector::nothing().equality_value("dag_id"));
}

TEST_CASE("a selector built from requirements normalizes them", "[selector]") {
  const Selector s({{"b", Op::In, {"y", "x", "y"}}, {"a", Op::NotEquals, {"q"}}});
  CHECK(s.to_string() == "a!=q,b in (x,y)");
  CHECK(s == parsed("b in (x,y),a!=q"));
}
