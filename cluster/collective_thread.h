// The thread that drives a communicator's asynchronous collectives. Callers queue operations and
// get PendingCollective handles; the thread starts the operations in queue order (every rank must
// issue collectives in the same order, which one thread preserves) and polls them, so they make
// progress while the callers compute. Transport-neutral: the MPI backend supplies the operations.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "cluster/communicator.h"

namespace vlm::cluster {

struct CollectiveThreadState;

// One collective as the engine's thread drives it. start() issues its non-blocking calls; poll()
// tests them and returns true once they all completed. Both run only on the engine's thread,
// start() in queue order; they throw to fail the collective (the engine adds its name and rank).
class Operation {
 public:
  virtual ~Operation() = default;
  virtual void start() = 0;
  virtual bool poll() = 0;
};

class CollectiveThread {
 public:
  // `where` ends every error message: "rank 1 of 2".
  explicit CollectiveThread(std::string where);
  // Stops the thread. Operations still in flight are abandoned: their handles' waits throw.
  ~CollectiveThread();
  CollectiveThread(const CollectiveThread&) = delete;
  CollectiveThread& operator=(const CollectiveThread&) = delete;

  // Queues `operation` behind every earlier one; `name` ("all_gather of unit llm.layers.3") goes
  // into its errors. Throws CommError once a collective has timed out or failed: the ranks then
  // no longer agree on which collective comes next, and a new one could pair with a stale one.
  //
  // The handle's wait() throws CommError after waiting the timeout; the collective then stays in
  // flight (a late peer may still complete it, and waiting again may succeed). Destroying a handle
  // before completion waits for it (bounded by the timeout, errors swallowed), so buffers freed
  // right after the handle are not written to; once the engine has failed, it detaches instead.
  Pending submit(std::string name, std::unique_ptr<Operation> operation);
  // submit() and wait().
  void run(std::string name, std::unique_ptr<Operation> operation);

  // Seconds a wait may take; <= 0: forever.
  void set_timeout(double seconds);
  double timeout() const;

  // Waits up to `seconds` (0: not at all) for every queued collective to complete; true if none
  // is left in flight.
  bool drain(double seconds);
  // The first timeout or failure ("all_gather of x timed out after 2 s on rank 0 of 2 ..."), or "".
  std::string failure() const;

 private:
  void loop();

  std::shared_ptr<CollectiveThreadState> shared_;
  std::thread thread_;
};

}  // namespace vlm::cluster
