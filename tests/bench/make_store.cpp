// Writes the benchmark's inputs to stdout: a recommendations file of N synthetic tasks
// (an AirflowTask and a VPA each, plus etl_daily/load that the captured KPO pod belongs to),
// or an AdmissionReview of a large KubernetesPodOperator pod. `--fleet N` is `--tasks N` with
// the AirflowTasks' status the fleet report reads (lastSeen, runs).
//
//   make_store --tasks 100000 > store.json
//   make_store --fleet 10000 > fleet.json
//   make_store --large-review 32768 > large-review.json
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "synthetic_store.hpp"

int main(int argc, char** argv) {
  const std::string_view usage = "usage: make_store --tasks N | --fleet N | --large-review BYTES\n";
  if (argc != 3) {
    std::cerr << usage;
    return 2;
  }
  const std::string_view what = argv[1];
  char* end = nullptr;
  const unsigned long long n = std::strtoull(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || (what != "--tasks" && what != "--fleet" && what != "--large-review")) {
    std::cerr << usage;
    return 2;
  }
  try {
    const auto count = static_cast<std::size_t>(n);
    const std::string out = what == "--large-review" ? avw::bench::large_review_json(count)
                                                     : avw::bench::synthetic_store_json(count, 20, what == "--fleet");
    std::fwrite(out.data(), 1, out.size(), stdout);
  } catch (const std::exception& e) {
    std::cerr << "make_store: " << e.what() << "\n";
    return 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
