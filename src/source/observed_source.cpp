// A source that also tells an observer (see observed_source.hpp).
#include "avw/source/observed_source.hpp"

#include <utility>

namespace avw::source {
namespace {

class ObservedSource : public RecommendationSource {
 public:
  ObservedSource(std::unique_ptr<RecommendationSource> inner, Publish observer)
      : inner_(std::move(inner)), observer_(std::move(observer)) {}

  // source::RecommendationSource
  void start(Publish publish) override {
    // The inner source's coroutines may outlive this object by a moment: the lambda owns what
    // it calls.
    inner_->start([observer = observer_, publish = std::move(publish)](std::shared_ptr<const core::Snapshot> snapshot) {
      observer(snapshot);
      publish(std::move(snapshot));
    });
  }
  void stop() override { inner_->stop(); }
  bool synced() const override { return inner_->synced(); }
  std::optional<std::chrono::system_clock::time_point> last_sync() const override { return inner_->last_sync(); }

 private:
  std::unique_ptr<RecommendationSource> inner_;
  Publish observer_;
};

}  // namespace

std::unique_ptr<RecommendationSource> observed(std::unique_ptr<RecommendationSource> inner, Publish observer) {
  return std::make_unique<ObservedSource>(std::move(inner), std::move(observer));
}

}  // namespace avw::source
