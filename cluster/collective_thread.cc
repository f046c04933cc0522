#include "cluster/collective_thread.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "common/error.h"

namespace vlm::cluster {
namespace {

using std::chrono::microseconds;
using Clock = std::chrono::steady_clock;

// When to poll next. Ranks that arrive together finish a collective within microseconds, and
// every gap between polls delays each round of a multi-round collective and each step of a large
// message's rendezvous: poll tightly, yielding the core, for a while after any progress, then
// sleep longer and longer up to a cap, so a long wait for a slow peer costs little CPU. While a
// caller waits (its core idle), the tight polling lasts longer. A wait that has lasted long
// already (a peer still computing) gets a longer cap: each poll costs tens of microseconds of CPU
// when ranks oversubscribe the cores, 5% of a core at the short cap.
class Backoff {
 public:
  void progressed() {
    last_progress_ = Clock::now();
    pause_ = microseconds(0);
  }
  // Zero: yield and poll again.
  microseconds next(bool waited_for) {
    const auto idle = Clock::now() - last_progress_;
    if (idle < (waited_for ? kSpinWhileWaited : kSpin)) return microseconds(0);
    const microseconds cap = idle < kLongWait ? kMaxPause : kLongWaitPause;
    pause_ = pause_.count() == 0 ? kFirstPause : std::min(cap, pause_ * 2);
    return pause_;
  }

 private:
  static constexpr microseconds kSpin{50};
  static constexpr microseconds kSpinWhileWaited{1000};
  static constexpr microseconds kFirstPause{10};
  static constexpr microseconds kMaxPause{200};
  static constexpr microseconds kLongWait{20000};
  static constexpr microseconds kLongWaitPause{500};
  Clock::time_point last_progress_ = Clock::now();
  microseconds pause_{0};
};

// Far beyond any job; keeps the conversion to the clock's nanoseconds from overflowing.
constexpr double kLongestWait = 1e9;

std::chrono::nanoseconds as_duration(double seconds) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::min(seconds, kLongestWait)));
}

}  // namespace

// One queued collective, shared by its handle and the engine's thread.
struct QueuedCollective {
  std::string name;
  std::unique_ptr<Operation> operation;  // the engine's thread's only, once queued
  bool finished = false;                 // the thread's: its operation completed or failed
  std::string error;                     // written before `complete`
  std::atomic<bool> complete{false};     // published, in queue order
};
using QueuedPtr = std::shared_ptr<QueuedCollective>;

struct CollectiveThreadState {
  explicit CollectiveThreadState(std::string where_) : where(std::move(where_)) {}

  void wait(QueuedCollective& collective);
  bool failed() {
    std::lock_guard<std::mutex> lock(mutex);
    return !failure.empty();
  }

  const std::string where;
  std::mutex mutex;
  std::condition_variable work;       // wakes the thread: something queued, a waiter, or stop
  std::condition_variable completed;  // wakes waiters: something published, or the thread ended
  std::deque<QueuedPtr> queued;
  size_t in_flight = 0;  // queued or started, not yet published
  int waiters = 0;       // callers blocked in wait()
  bool poked = false;    // a caller started waiting since the thread last looked
  bool stop = false;
  bool stopped = false;
  std::string failure;
  std::atomic<double> timeout{300.0};
};

void CollectiveThreadState::wait(QueuedCollective& collective) {
  std::unique_lock<std::mutex> lock(mutex);
  const auto over = [&] { return collective.complete.load() || stopped; };
  const double seconds = timeout.load();
  bool in_time = true;
  if (!over()) {
    ++waiters;
    poked = true;
    work.notify_one();
    if (seconds <= 0) {
      completed.wait(lock, over);
    } else {
      in_time = completed.wait_for(lock, as_duration(seconds), over);
    }
    --waiters;
  }
  if (!in_time) {
    std::string message = detail::concat(collective.name, " timed out after ", seconds, " s on ",
                                         where, " (a peer may have died or stopped)");
    if (failure.empty()) failure = message;
    throw CommError(message, __FILE__, __LINE__);
  }
  VLM_CHECK(collective.complete.load(), CommError, collective.name, " was abandoned on ", where,
            ": its communicator was closed first");
  if (!collective.error.empty()) throw CommError(collective.error, __FILE__, __LINE__);
}

namespace {

class Handle final : public PendingCollective {
 public:
  Handle(std::shared_ptr<CollectiveThreadState> shared, QueuedPtr collective)
      : shared_(std::move(shared)), collective_(std::move(collective)) {}
  ~Handle() override {
    if (done() || shared_->failed()) return;
    try {
      shared_->wait(*collective_);
    } catch (const std::exception&) {
      // Destructors do not throw; the failure stays recorded and refuses later collectives.
    }
  }
  void wait() override { shared_->wait(*collective_); }
  bool done() override { return collective_->complete.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<CollectiveThreadState> shared_;
  QueuedPtr collective_;
};

void fail(QueuedCollective& collective, const std::string& where, const std::exception& error) {
  collective.error = detail::concat(collective.name, " failed on ", where, ": ", error.what());
  collective.finished = true;
}

void launch(QueuedCollective& collective, const std::string& where) {
  try {
    collective.operation->start();
  } catch (const std::exception& error) {
    fail(collective, where, error);
  }
}

// True when the collective finished with this poll.
bool advance(QueuedCollective& collective, const std::string& where) {
  if (collective.finished) return false;
  try {
    collective.finished = collective.operation->poll();
  } catch (const std::exception& error) {
    fail(collective, where, error);
  }
  return collective.finished;
}

// Completion becomes visible in queue order, as the interface promises, even when a later
// collective's requests finish first.
void publish(CollectiveThreadState& shared, std::deque<QueuedPtr>& active) {
  std::vector<std::unique_ptr<Operation>> spent;
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    while (!active.empty() && active.front()->finished) {
      QueuedCollective& collective = *active.front();
      if (!collective.error.empty() && shared.failure.empty()) {
        shared.failure = collective.error;
      }
      spent.push_back(std::move(collective.operation));
      collective.complete.store(true, std::memory_order_release);
      --shared.in_flight;
      active.pop_front();
    }
  }
  if (!spent.empty()) shared.completed.notify_all();
}

// Sleeps of tens of microseconds are that short only with a small timer slack: Linux's default
// of 50 us would be added to every pause. The name tells the thread apart in top and gdb.
void tune_this_thread() {
  prctl(PR_SET_TIMERSLACK, 1000UL);
  pthread_setname_np(pthread_self(), "vlm-comm");
}

}  // namespace

CollectiveThread::CollectiveThread(std::string where)
    : shared_(std::make_shared<CollectiveThreadState>(std::move(where))),
      thread_([this] { loop(); }) {}

CollectiveThread::~CollectiveThread() {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stop = true;
  }
  shared_->work.notify_all();
  thread_.join();
}

Pending CollectiveThread::submit(std::string name, std::unique_ptr<Operation> operation) {
  auto collective = std::make_shared<QueuedCollective>();
  collective->name = std::move(name);
  collective->operation = std::move(operation);
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    VLM_CHECK(shared_->failure.empty(), CommError, collective->name, " refused on ", shared_->where,
              ": an earlier collective failed (", shared_->failure, ")");
    shared_->queued.push_back(collective);
    ++shared_->in_flight;
  }
  shared_->work.notify_one();
  return std::make_unique<Handle>(shared_, std::move(collective));
}

void CollectiveThread::run(std::string name, std::unique_ptr<Operation> operation) {
  submit(std::move(name), std::move(operation))->wait();
}

void CollectiveThread::set_timeout(double seconds) { shared_->timeout.store(seconds); }

double CollectiveThread::timeout() const { return shared_->timeout.load(); }

bool CollectiveThread::drain(double seconds) {
  std::unique_lock<std::mutex> lock(shared_->mutex);
  if (seconds > 0) {
    shared_->completed.wait_for(lock, as_duration(seconds),
                                [&] { return shared_->in_flight == 0 || shared_->stopped; });
  }
  return shared_->in_flight == 0;
}

std::string CollectiveThread::failure() const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  return shared_->failure;
}

void CollectiveThread::loop() {
  tune_this_thread();
  CollectiveThreadState& shared = *shared_;
  std::deque<QueuedPtr> active;  // started, in queue order, not yet published
  Backoff backoff;
  bool waited_for = false;
  for (;;) {
    std::deque<QueuedPtr> fresh;
    const microseconds pause = active.empty() ? microseconds(0) : backoff.next(waited_for);
    if (!active.empty() && pause.count() == 0) std::this_thread::yield();
    bool poked = false;
    {
      std::unique_lock<std::mutex> lock(shared.mutex);
      const auto has_work = [&] { return shared.stop || shared.poked || !shared.queued.empty(); };
      if (active.empty()) {
        shared.work.wait(lock, has_work);
      } else if (pause.count() > 0) {
        shared.work.wait_for(lock, pause, has_work);
      }
      if (shared.stop) {
        for (QueuedPtr& collective : shared.queued) active.push_back(std::move(collective));
        break;
      }
      fresh.swap(shared.queued);
      poked = std::exchange(shared.poked, false);
      waited_for = shared.waiters > 0;
    }
    bool progressed = !fresh.empty();
    for (QueuedPtr& collective : fresh) {
      launch(*collective, shared.where);
      active.push_back(std::move(collective));
    }
    for (QueuedPtr& collective : active) progressed |= advance(*collective, shared.where);
    publish(shared, active);
    if (progressed || poked) backoff.progressed();
  }
  // Abandoned operations go here, not in some later handle's destructor on another thread: they
  // may hold resources of a communicator that is about to be destroyed.
  for (QueuedPtr& collective : active) collective->operation.reset();
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    shared.stopped = true;
  }
  shared.completed.notify_all();
}

}  // namespace vlm::cluster
