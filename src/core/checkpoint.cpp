// Decoding of a VerticalPodAutoscalerCheckpoint: the recommender's history of one (VPA,
// container), which the history gate reads.
#include <rapidjson/document.h>

#include <string>

#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

using rapidjson::Value;
using namespace json_fields;

Checkpoint decode_checkpoint(const Value& object) {
  Checkpoint cp;
  cp.meta = decode_meta(object);
  const Value& spec = req_object(object, "spec", "");
  cp.vpa_name = req_string(spec, "vpaObjectName", "spec");
  cp.container_name = req_string(spec, "containerName", "spec");

  // A checkpoint the recommender has not written yet has no status: no history at all.
  const Value* status = opt_object(object, "status", "");
  if (status == nullptr) return cp;
  cp.first_sample_start = decode_timestamp(*status, "firstSampleStart", "status");
  cp.last_sample_start = decode_timestamp(*status, "lastSampleStart", "status");
  if (const Value* count = find(*status, "totalSamplesCount")) {
    if (!count->IsInt64() || count->GetInt64() < 0) {
      fail("status.totalSamplesCount", "expected a non-negative integer");
    }
    cp.total_samples_count = count->GetInt64();
  }
  if (const Value* memory = opt_object(*status, "memoryHistogram", "status")) {
    if (const Value* weights = opt_object(*memory, "bucketWeights", "status.memoryHistogram")) {
      cp.has_memory_samples = weights->MemberCount() > 0;
    }
  }
  return cp;
}

}  // namespace avw::core
