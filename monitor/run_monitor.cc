#include "monitor/run_monitor.h"

#include <utility>

#include "common/log.h"

namespace vlm::monitor {

RunMonitor::RunMonitor(const recipes::Recipe& recipe, const cluster::World& world,
                       MonitorSetup setup)
    : watch_(recipe.cluster, setup.run_dir, world, std::move(setup.on_silent_rank)) {
  if (world.is_coordinator()) {
    metrics_ = std::make_unique<MetricsLog>(setup.metrics_jsonl);
    display_ =
        std::make_unique<ProgressDisplay>(recipe, setup.progress_style, setup.terminal_columns);
    tensorboard_ = std::make_unique<TensorBoardLog>(setup.tensorboard);
    log::info("TensorBoard: {} (tensorboard --logdir {})", tensorboard_->path(), setup.tensorboard);
  }
  observers_.add(metrics_.get());
  observers_.add(display_.get());
  observers_.add(tensorboard_.get());
  observers_.add(&watch_);
}

}  // namespace vlm::monitor
