// The help texts of the commands (config.hpp declares usage()): kept apart from the flag
// parser so that each reads on its own; a test checks them against docs/configuration.md.
#include "avw/cli/config.hpp"

#include <string>
#include <string_view>

namespace avw::cli {

std::string usage(std::string_view topic) {
  static constexpr std::string_view kDecision =
      "Decision flags (serve, review and report):\n"
      "  --recommendation-field F   target (default), lowerBound, upperBound or uncappedTarget\n"
      "  --min-cpu Q, --max-cpu Q   bounds on any cpu request written (e.g. 10m, 4)\n"
      "  --min-memory Q, --max-memory Q\n"
      "                             bounds on any memory request written (e.g. 64Mi, 16Gi)\n"
      "  --allowed-update-modes L   VPA update modes that may govern pods (default Off,Initial)\n"
      "  --dag-id-label K           (default dag_id)\n"
      "  --task-id-label K          (default task_id)\n"
      "  --pod-operator-label K     (default kubernetes_pod_operator)\n"
      "  --executor-label K         (default kubernetes_executor)\n"
      "  --try-number-label K       (default try_number)\n"
      "Safety gates (overridden by namespace and pod annotations airflow-vpa-webhook.io/<flag>):\n"
      "  --min-history D            checkpoint history a recommendation needs (default 48h; 0: off)\n"
      "  --min-samples N            checkpoint samples a recommendation needs (default 10)\n"
      "  --retry-memory-factor F    memory raise per retry, from the pod's request (default 1)\n"
      "  --max-decrease-cpu P, --max-decrease-memory P\n"
      "                             largest decrease from the pod's request (e.g. 50%; default off)\n"
      "  --max-increase-cpu P, --max-increase-memory P\n"
      "                             largest increase from the pod's request (e.g. 100%; default off)\n"
      "OOM floors (the closed loop; no annotation overrides them):\n"
      "  --oom-bump-ratio F         an OOM kill's floor: killed memory times F (default 1.2) ...\n"
      "  --oom-min-bump Q           ... or plus Q, whichever is more (default 100Mi)\n"
      "  --oom-floor-clean-runs N   clean runs after a kill before its floor may end (default 3)\n";
  if (topic == "serve") {
    return std::string(
               "Usage: airflow-vpa-webhook serve --tls-cert FILE --tls-key FILE [--recommendations FILE] [flags]\n"
               "\n"
               "Serves the admission webhook over HTTPS: POST /mutate, POST /audit, GET /healthz,\n"
               "GET /readyz, GET /metrics.\n"
               "\n"
               "  --listen HOST:PORT         address to listen on (default 0.0.0.0:8443; [::]:8443 for IPv6)\n"
               "  --tls-cert FILE            PEM certificate chain (reloaded when it changes)\n"
               "  --tls-key FILE             PEM private key (reloaded when it changes)\n"
               "  --client-ca FILE           require client certificates signed by this CA\n"
               "  --recommendations FILE     VPAs, targets and LimitRanges as `kubectl get -o json` prints\n"
               "                             them (reloaded when it changes)\n"
               "  --kubeconfig FILE          read recommendations from the Kubernetes API (default: in-cluster)\n"
               "  --disable-provisioning     do not create AirflowTasks and VPAs for new tasks\n"
               "  --disable-run-watch        do not watch task pods end (no OOM floors, no run-time metrics)\n"
               "  --provision-refresh D      status.lastSeen refreshed at most this often per task (default 1h)\n"
               "  --provision-gc-interval D  how often tasks not seen are looked for (default 1h)\n"
               "  --forget-after D           tasks not seen this long are deleted with their VPA (default 720h)\n"
               "  --vpa-recommender NAME     provisioned VPAs name this VPA recommender in spec.recommenders, and\n"
               "                             earlier ones are changed to it at their refresh (default: none, the\n"
               "                             cluster's default recommender); a recommender with\n"
               "                             --recommender-name=NAME must run\n"
               "  --missing-recommendation-after D\n"
               "                             provisioned VPAs still without a recommendation this long after they\n"
               "                             were made are counted and reported (default 6h)\n"
               "  --dry-run                  /mutate answers like /audit: no patch, audit annotations\n"
               "  --threads N                worker threads (default: one per core)\n"
               "  --max-request-bytes N      larger request bodies get 413 (default 4Mi)\n"
               "  --max-connections N        connections beyond this are closed at once (default 1024)\n"
               "  --handshake-timeout D      TLS handshake (default 10s)\n"
               "  --header-timeout D         request header (default 10s)\n"
               "  --body-timeout D           request body, and writing the response (default 10s)\n"
               "  --idle-timeout D           keep-alive connection without a request (default 60s)\n"
               "  --shutdown-timeout D       bound on the graceful shutdown (default 30s)\n"
               "  --log-format json|text     (default text)\n"
               "  --log-level L              trace, debug, info (default), warn, error, critical, off\n"
               "\n") +
           std::string(kDecision);
  }
  if (topic == "review") {
    return std::string(
               "Usage: airflow-vpa-webhook review --recommendations FILE [--review FILE] [--dry-run] [flags]\n"
               "\n"
               "Reads an AdmissionReview, or a bare Pod that it wraps in the CREATE review the API server\n"
               "would send (JSON or YAML, stdin by default), and prints the AdmissionReview response the\n"
               "server would send for it. Exit 0 on success, 2 with one line on stderr on bad input.\n"
               "\n"
               "  --recommendations FILE     VPAs, targets and LimitRanges as `kubectl get -o json` prints them\n"
               "  --review FILE              the AdmissionReview or Pod to answer (default: stdin)\n"
               "  --dry-run                  answer as /audit does: no patch, audit annotations\n"
               "\n") +
           std::string(kDecision);
  }
  if (topic == "report") {
    return std::string(
               "Usage: airflow-vpa-webhook report [--recommendations FILE | --kubeconfig FILE] [--output table|json|csv]\n"
               "                                  [flags]\n"
               "\n"
               "Prints the fleet view: per task (namespace, DAG, task, launcher) when it was last seen, its\n"
               "runs, what its pods ask for, the recommendation, what the webhook would set now and why,\n"
               "OOM kills, and the change in core-hours and GiB-hours a day (negative: saved), with totals\n"
               "per namespace and per DAG. The same decision as serve's, made for each task's last run.\n"
               "Exit 0 on success, 2 with one line on stderr on bad flags or input.\n"
               "\n"
               "  --recommendations FILE     read the objects from this file, as serve and review do\n"
               "  --kubeconfig FILE          read them from the Kubernetes API (default: in-cluster)\n"
               "  --output F                 table (default), json or csv\n"
               "  --namespace NS             only the tasks of this namespace\n"
               "  --dag DAG                  only the tasks of this DAG\n"
               "  --sort S                   name (default), cpu-savings, memory-savings, last-seen or runs\n"
               "  --limit N                  at most N rows; totals still count every matching task (0: all)\n"
               "\n") +
           std::string(kDecision);
  }
  return "Usage: airflow-vpa-webhook COMMAND [flags]\n"
         "\n"
         "Sets the resource requests of Airflow task pods from VPA recommendations.\n"
         "\n"
         "Commands:\n"
         "  serve     run the HTTPS admission webhook\n"
         "  review    answer one AdmissionReview or Pod from a file or stdin, offline\n"
         "  report    what the webhook would set for every task, and what it would save\n"
         "\n"
         "Run `airflow-vpa-webhook COMMAND --help` for the flags of a command.\n";
}

}  // namespace avw::cli
