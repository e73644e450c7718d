// Fuzzes the admission path end to end: core::ParsedReview on the request body, core::decide
// against fixed snapshots, core::encode_response; plus the base64 codec on the raw input.
//
// Two snapshots are built once, at start-up, from the captured fixtures:
//   - "api": the VPAs, AirflowTasks and LimitRange listed from the API server, plus a few
//     objects that reach the rest of the planner (a RequestsOnly policy with bounds, a
//     `mode: Off` container, a structured selector in another namespace with a LimitRange
//     and namespace gate overrides); no checkpoints, so the history gate is off;
//   - "recommender": the objects the real VPA recommender wrote, with its checkpoints, so the
//     history gate decides; decided with the webhook's own safety bounds set.
// Checked for every body that decodes, in both modes:
//   - the pod is always allowed; only Enforce sends a patch, and then a non-empty one; DryRun
//     plans the same patch and reports it instead; warnings stay within their bounds;
//   - encode_response gives valid JSON, and valid UTF-8, echoing the uid, whose patch is the
//     base64 of the plan;
//   - the patch applies to the request's pod (strictly, like the API server), and the patched
//     pod carries the planned requests and limits and the VPA annotation.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/admission.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/base64.hpp"
#include "avw/core/json_pointer.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/patch.hpp"
#include "avw/core/response.hpp"
#include "avw/core/store.hpp"
#include "fuzz_support.hpp"
#include "support/json_patch.hpp"

using namespace avw::core;
using avw::fuzz::fuzz_require;
using avw::fuzz::read_fixture;

namespace {

// Objects the captured lists lack, so that decisions reach policies, RequestsOnly, `mode: Off`,
// the non-indexed (structured selector) path, a Pod LimitRange and namespace overrides.
constexpr std::string_view kExtraObjects = R"({"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-daily-load-exec","namespace":"airflow","creationTimestamp":"2026-11-23T17:09:07Z"},"spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl_daily,task_id=load,kubernetes_executor=True"}},
{"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"etl-daily-load-exec","namespace":"airflow","creationTimestamp":"2026-11-23T17:09:07Z"},"spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"etl-daily-load-exec"},"updatePolicy":{"updateMode":"Initial"},"resourcePolicy":{"containerPolicies":[{"containerName":"base","controlledValues":"RequestsOnly","minAllowed":{"cpu":"100m"},"maxAllowed":{"memory":"1Gi"}},{"containerName":"*","mode":"Off"}]}},"status":{"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"50m","memory":"2Gi"},"lowerBound":{"cpu":"10m","memory":"100Mi"},"upperBound":{"cpu":"4","memory":"8Gi"},"uncappedTarget":{"cpu":"50m","memory":"2Gi"}},{"containerName":"sidecar","target":{"cpu":"20m","memory":"32Mi"}}]}}},
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"batch","namespace":"batch","creationTimestamp":"2026-11-20T00:00:00Z"},"spec":{"selector":{"matchLabels":{"team":"data"},"matchExpressions":[{"key":"dag_id","operator":"Exists"},{"key":"tier","operator":"NotIn","values":["critical"]}]}}},
{"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"batch","namespace":"batch","creationTimestamp":"2026-11-20T00:00:00Z"},"spec":{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"batch"},"updatePolicy":{"updateMode":"Off"},"resourcePolicy":{"containerPolicies":[{"containerName":"*","controlledResources":["memory","cpu"],"maxAllowed":{"memory":"3Gi"}}]}},"status":{"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"1","memory":"5Gi"},"upperBound":{"cpu":"2500m","memory":"6Gi"}},{"containerName":"sidecar","target":{"cpu":"10m","memory":"64Mi"}}]}}},
{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"batch-limits","namespace":"batch"},"spec":{"limits":[{"type":"Container","max":{"cpu":"2","memory":"4Gi"},"min":{"cpu":"10m","memory":"16Mi"},"maxLimitRequestRatio":{"cpu":"4"}},{"type":"Pod","max":{"cpu":"3","memory":"6Gi"},"min":{"memory":"32Mi"}}]}},
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"batch","annotations":{"airflow-vpa-webhook.io/max-decrease-memory":"50%","airflow-vpa-webhook.io/max-increase-cpu":"0.5","airflow-vpa-webhook.io/retry-memory-factor":"1.5"}}}
]})";

// The recommender's VPAs target AirflowTasks that its capture does not include.
constexpr std::string_view kRecommenderTargets = R"({"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load","namespace":"airflow","creationTimestamp":"2026-11-23T17:20:00Z"},"spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_pod_operator=True"}},
{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load-executor","namespace":"airflow","creationTimestamp":"2026-11-23T17:20:00Z"},"spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_executor=True"}},
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"airflow","annotations":{"airflow-vpa-webhook.io/min-history":"1m","airflow-vpa-webhook.io/min-samples":"5"}}}
]})";

void append(DecodedObjects& into, DecodedObjects&& from) {
  auto move_all = [](auto& to, auto& src) {
    for (auto& x : src) to.push_back(std::move(x));
  };
  move_all(into.vpas, from.vpas);
  move_all(into.targets, from.targets);
  move_all(into.limit_ranges, from.limit_ranges);
  move_all(into.checkpoints, from.checkpoints);
  move_all(into.namespaces, from.namespaces);
  move_all(into.errors, from.errors);
}

std::shared_ptr<const Snapshot> snapshot_of(const std::vector<std::string>& documents) {
  DecodedObjects all;
  for (const std::string& document : documents) append(all, decode_objects(document));
  fuzz_require(all.errors.empty(), "a fixture object did not decode", all.errors.empty() ? "" : all.errors.front());
  return Snapshot::build(std::move(all), StoreOptions{});
}

struct Setup {
  std::shared_ptr<const Snapshot> snapshot;
  Config config;
};

const std::vector<Setup>& setups() {
  static const std::vector<Setup> kSetups = [] {
    std::vector<Setup> out;
    out.push_back({snapshot_of({read_fixture("api/list-vpas-page1.json"), read_fixture("api/list-vpas-page2.json"),
                                read_fixture("api/list-airflowtasks.json"), read_fixture("api/list-limitranges.json"),
                                std::string(kExtraObjects)}),
                   Config{}});
    Config bounded;
    bounded.min_request[Resource::Cpu] = Quantity::parse("50m");
    bounded.min_request[Resource::Memory] = Quantity::parse("64Mi");
    bounded.max_request[Resource::Cpu] = Quantity::parse("8");
    bounded.max_request[Resource::Memory] = Quantity::parse("16Gi");
    bounded.max_warnings = 2;
    bounded.max_warning_length = 40;
    out.push_back({snapshot_of({read_fixture("recommender/vpa-etl-load.json"),
                                read_fixture("recommender/vpa-etl-load-executor.json"),
                                read_fixture("recommender/checkpoints.json"), std::string(kRecommenderTargets)}),
                   std::move(bounded)});
    fuzz_require(out[0].snapshot->vpa_count() == 5 && out[1].snapshot->vpa_count() == 2,
                 "the fixed snapshots lost VPAs");
    return out;
  }();
  return kSetups;
}

// A member of a JSON object, or nullptr. (Comparing RapidJSON 1.1 member iterators is
// ambiguous under C++20's reversed operators, hence HasMember.)
const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  return object.IsObject() && object.HasMember(name) ? &object[name] : nullptr;
}

// True when an object anywhere in `v` repeats a key. The codec reads the last one, as Go's
// decoder does; the API server re-serializes the pod it sends, so it never repeats one, and
// the test applier (first one wins) cannot stand in for it on such input.
bool has_duplicate_keys(const rapidjson::Value& v) {
  if (v.IsArray()) {
    for (const auto& item : v.GetArray()) {
      if (has_duplicate_keys(item)) return true;
    }
  } else if (v.IsObject()) {
    std::set<std::string_view> keys;
    for (const auto& m : v.GetObject()) {
      if (!keys.emplace(m.name.GetString(), m.name.GetStringLength()).second) return true;
      if (has_duplicate_keys(m.value)) return true;
    }
  }
  return false;
}

// request.object of the body, re-serialized: the document the API server applies the patch to;
// nullopt when the API server could not have sent it (a repeated key).
std::optional<std::string> pod_object_json(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  fuzz_require(!doc.HasParseError() && doc.IsObject(), "a decoded body does not re-parse");
  const rapidjson::Value* request = member(doc, "request");
  fuzz_require(request != nullptr, "a decoded body has no request");
  const rapidjson::Value* object = member(*request, "object");
  fuzz_require(object != nullptr, "a pod was decoded without request.object");
  if (has_duplicate_keys(doc)) return std::nullopt;
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  object->Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

void check_response(const AdmissionRequest& request, const Decision& d, const std::string& response) {
  rapidjson::Document doc;
  doc.Parse(response.data(), response.size());
  fuzz_require(!doc.HasParseError() && doc.IsObject(), "the response is not valid JSON", response);
  // The body was valid UTF-8 (the codec checks), so the response must be too (RFC 8259 8.1);
  // cutting text at a byte count is how it would stop being so.
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(response.data(), response.size());
  fuzz_require(!doc.HasParseError(), "the response is not valid UTF-8", response);
  const rapidjson::Value* body = member(doc, "response");
  fuzz_require(body != nullptr && body->IsObject(), "the response has no response object", response);
  const rapidjson::Value* uid = member(*body, "uid");
  fuzz_require(uid != nullptr && uid->IsString() &&
                   std::string_view(uid->GetString(), uid->GetStringLength()) == request.uid,
               "the response does not echo the uid", response);
  const rapidjson::Value* allowed = member(*body, "allowed");
  fuzz_require(allowed != nullptr && allowed->IsBool() && allowed->GetBool(), "the response does not allow the pod",
               response);
  const rapidjson::Value* patch = member(*body, "patch");
  fuzz_require((patch != nullptr) == d.sends_patch(), "the response's patch disagrees with the decision", response);
  if (patch != nullptr) {
    fuzz_require(patch->IsString(), "the response's patch is not a string", response);
    const auto decoded = base64_decode(std::string_view(patch->GetString(), patch->GetStringLength()));
    fuzz_require(decoded.has_value() && *decoded == patch_to_json(d.patch), "the response's patch is not the plan",
                 response);
  }
}

void check_patch_applies(std::string_view body, const Decision& d, const Config& config) {
  const std::optional<std::string> pod = pod_object_json(body);
  if (!pod) return;
  const std::string patch = patch_to_json(d.patch);
  std::string patched;
  try {
    patched = avw::test::apply_json_patch(*pod, patch);
  } catch (const std::runtime_error& e) {
    fuzz_require(false, "the patch does not apply to the pod", std::string(e.what()) + " | patch " + patch);
  }
  try {
    std::string vpa_annotation = "/metadata/annotations/";
    append_json_pointer_token(vpa_annotation, config.annotation_prefix + "vpa");
    fuzz_require(avw::test::json_at(patched, vpa_annotation) == d.vpa_name, "the patched pod lacks the VPA annotation",
                 patch);
    // A value the patch leaves alone keeps the pod's own spelling ("0Gi", "8192Mi"), so the
    // patched pod is compared by value, not by text.
    const auto value_at = [&](const std::string& pointer) { return Quantity::parse(avw::test::json_at(patched, pointer)); };
    for (const ContainerPlan& plan : d.containers) {
      const std::string base = "/spec/containers/" + std::to_string(plan.index) + "/resources/";
      for (const ResourceChange& ch : plan.changes) {
        const std::string resource(to_string(ch.resource));
        if (ch.new_request) {
          fuzz_require(value_at(base + "requests/" + resource) == ch.new_request,
                       "the patched pod lacks a planned request", patch);
        }
        if (ch.old_limit && ch.new_limit) {
          fuzz_require(value_at(base + "limits/" + resource) == ch.new_limit, "the patched pod lacks a planned limit",
                       patch);
        }
      }
    }
  } catch (const std::runtime_error& e) {
    fuzz_require(false, "the patched pod cannot be read back", std::string(e.what()) + " | patch " + patch);
  }
}

// AVW_FUZZ_VERBOSE=1 prints each decision: to check what a corpus input reaches.
bool verbose() {
  static const bool kVerbose = std::getenv("AVW_FUZZ_VERBOSE") != nullptr;
  return kVerbose;
}

void check_decision(std::string_view body, const AdmissionRequest& request, const Setup& setup) {
  const Decision enforce = decide(request, *setup.snapshot, setup.config, Mode::Enforce);
  const Decision dry_run = decide(request, *setup.snapshot, setup.config, Mode::DryRun);
  if (verbose()) {
    std::fprintf(stderr, "%s: %s; gates held: %zu; warnings: %zu\n", std::string(to_string(enforce.outcome)).c_str(),
                 enforce.reason.c_str(), enforce.gates.size(), enforce.warnings.size());
  }

  for (const Decision* d : {&enforce, &dry_run}) {
    fuzz_require(d->allowed, "a pod was denied", d->reason);
    fuzz_require(d->warnings.size() <= setup.config.max_warnings, "too many warnings", d->reason);
    for (const std::string& w : d->warnings) {
      fuzz_require(w.size() <= setup.config.max_warning_length, "a warning is too long", w);
    }
    check_response(request, *d, encode_response(request, *d));
  }
  fuzz_require(enforce.outcome != Outcome::Audited, "Enforce audited instead of patching", enforce.reason);
  fuzz_require(dry_run.outcome != Outcome::Patched && !dry_run.sends_patch(), "DryRun sent a patch", dry_run.reason);
  fuzz_require(enforce.sends_patch() == !enforce.patch.empty(), "Enforce patched with no operations", enforce.reason);
  fuzz_require(enforce.patch == dry_run.patch && enforce.summary == dry_run.summary,
               "the modes planned different patches", enforce.reason + " | " + dry_run.reason);
  fuzz_require((enforce.outcome == Outcome::Patched) == (dry_run.outcome == Outcome::Audited),
               "the modes disagree on whether to change the pod", enforce.reason + " | " + dry_run.reason);

  if (enforce.sends_patch()) check_patch_applies(body, enforce, setup.config);
}

// simdjson decodes the reviews; RapidJSON, reading strictly, is the second opinion on what is
// JSON.
bool rapidjson_accepts(std::string_view input) {
  // RapidJSON takes a NUL byte for the end of input; JSON has no raw NUL anywhere.
  if (input.find('\0') != std::string_view::npos) return false;
  // RapidJSON 1.1.0 skips a UTF-8 BOM, and each of its bytes on its own (EncodedInputStream):
  // "\xEF666" reads as 666. We refuse a BOM, as Go's encoding/json does (RFC 8259 lets a
  // parser do either; the API server never sends one).
  if (!input.empty()) {
    const auto first = static_cast<unsigned char>(input.front());
    if (first == 0xEF || first == 0xBB || first == 0xBF) return false;
  }
  rapidjson::Document document;
  // Iterative: a body nested past any stack must not overflow this one.
  document.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(input.data(), input.size());
  return !document.HasParseError();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = avw::fuzz::as_view(data, size);

  // base64 is strict (one accepted encoding per byte string), so decoding is invertible.
  if (const auto decoded = base64_decode(input)) {
    fuzz_require(base64_encode(*decoded) == input, "base64 accepted a non-canonical encoding", input);
  }
  fuzz_require(base64_decode(base64_encode(input)) == std::string(input), "base64 does not round-trip", input);

  const std::vector<Setup>& all = setups();
  // The server's way in: the body appended in two pieces to a padded buffer and decoded
  // where it lies. It must end exactly as the copy does.
  avw::core::ReviewBuffer received;
  const std::size_t half = input.size() / 2;
  received.append(input.data(), half);
  received.append(input.data() + half, input.size() - half);
  fuzz_require(received.view() == input, "the review buffer changed the body");
  // One parser for every input, as a server worker keeps one: each review decodes as if alone.
  static ReviewParser parser;
  std::optional<ParsedReview> in_place;
  std::string in_place_error;
  try {
    in_place.emplace(parser, received.padded());
  } catch (const DecodeError& e) {
    in_place_error = e.what();
  }

  std::optional<ParsedReview> review;
  try {
    review.emplace(input);
  } catch (const DecodeError& e) {
    const std::string_view message = e.what();
    fuzz_require(!message.empty(), "DecodeError without a message");
    fuzz_require(!in_place && in_place_error == message, "decoded in place, the body ends otherwise", in_place_error);
    // Refused as not JSON although RapidJSON reads it: only for what RapidJSON 1.1.0 lets
    // through (a lone surrogate escape) or reads as a double (an integer past 64 bits).
    if (message.starts_with("AdmissionReview is not valid JSON") && rapidjson_accepts(input)) {
      fuzz_require(message.find("surrogate") != std::string_view::npos || message.find("number") != std::string_view::npos,
                   "refused as not JSON a body RapidJSON reads", message);
    }
    return 0;
  }
  fuzz_require(rapidjson_accepts(input), "decoded a body that RapidJSON refuses as JSON", input);
  fuzz_require(in_place.has_value(), "refused in place, decoded from a copy", in_place_error);
  fuzz_require(in_place->request().uid == review->request().uid &&
                   in_place->request().has_pod == review->request().has_pod &&
                   in_place->request().pod.containers.size() == review->request().pod.containers.size(),
               "decoded in place, the review reads otherwise", input);
  // Outside the try: once a body decodes, nothing after it may throw at all.
  for (const Setup& setup : all) check_decision(input, review->request(), setup);
  return 0;
}
