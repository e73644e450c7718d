// A review, or a bare Pod wrapped in one (see review_input.hpp).
#include "review_input.hpp"

#include <yaml-cpp/yaml.h>

#include <rapidjson/document.h>

#include <exception>

#include "avw/core/json_writer.hpp"

namespace avw::cli {
namespace {

bool plain_scalar_is(const YAML::Node& n, auto&& decode) { return n.Tag() == "?" && decode(); }

/// YAML to JSON, keeping plain scalars' types (`8080`, `true`, `null`) and quoted ones as strings.
void append_json(std::string& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out += '{';
      bool first = true;
      for (const auto& kv : node) {
        if (!first) out += ',';
        first = false;
        core::append_json_string(out, kv.first.Scalar());
        out += ':';
        append_json(out, kv.second);
      }
      out += '}';
      return;
    }
    case YAML::NodeType::Sequence: {
      out += '[';
      for (std::size_t i = 0; i < node.size(); ++i) {
        if (i != 0) out += ',';
        append_json(out, node[i]);
      }
      out += ']';
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      long long integer = 0;
      double real = 0;
      bool boolean = false;
      if (plain_scalar_is(node, [&] { return YAML::convert<long long>::decode(node, integer); })) {
        out += std::to_string(integer);
      } else if (plain_scalar_is(node, [&] { return YAML::convert<double>::decode(node, real); }) &&
                 s.find_first_not_of("0123456789.eE+-") == std::string::npos) {
        out += s;
      } else if (plain_scalar_is(node, [&] { return YAML::convert<bool>::decode(node, boolean); }) &&
                 (s == "true" || s == "false")) {
        out += s;
      } else if (node.Tag() == "?" && (s == "null" || s == "~")) {
        out += "null";
      } else {
        core::append_json_string(out, s);
      }
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out += "null";
      return;
  }
}

std::string wrap_pod(std::string_view pod_json, std::string_view namespace_) {
  std::string out = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":)";
  core::append_json_string(out, kWrappedReviewUid);
  out += R"(,"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":)";
  core::append_json_string(out, namespace_);
  out += R"(,"operation":"CREATE","object":)";
  out += pod_json;
  out += R"(,"oldObject":null,"dryRun":false}})";
  return out;
}

std::string_view string_member(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

}  // namespace

std::string review_body_of(std::string_view text) {
  std::string json(text);
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return json;
  if (text[start] != '{') {
    // Not JSON: a YAML document (kubectl get -o yaml), or something the codec will refuse.
    try {
      const YAML::Node node = YAML::Load(std::string(text));
      if (!node.IsMap()) return json;
      json.clear();
      append_json(json, node);
    } catch (const std::exception&) {
      return std::string(text);
    }
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return json;
  if (string_member(doc, "kind") != "Pod" || string_member(doc, "apiVersion") != "v1") return json;
  std::string_view namespace_;
  if (const auto md = doc.FindMember("metadata"); md != doc.MemberEnd() && md->value.IsObject()) {
    namespace_ = string_member(md->value, "namespace");
  }
  return wrap_pod(json, namespace_.empty() ? std::string_view("default") : namespace_);
}

}  // namespace avw::cli
