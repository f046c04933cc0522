// Preemption signals: SIGTERM (what Slurm and mpirun send before killing) and SIGUSR1 (Slurm's
// --signal=USR1@grace) only raise a flag; the trainer looks at it at step boundaries, where the
// ranks agree, save and exit with apps::kExitPreempted. A second signal changes nothing.
#pragma once

namespace vlm::worker {

void install_preemption_handlers();
bool preemption_requested();
// Forget a signal (tests; a new run in the same process).
void clear_preemption_request();

}  // namespace vlm::worker
