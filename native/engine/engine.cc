#include "engine/engine.h"

#include <atomic>
#include <memory>

namespace voxprep {

Engine& Engine::instance() {
  // Leaked on purpose: the pool must outlive every caller, including static destructors.
  static Engine* engine = new Engine();
  return *engine;
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int Engine::default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

int Engine::pool_size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return int(workers_.size());
}

void Engine::ensure_workers(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  while (int(workers_.size()) < count) workers_.emplace_back([this] { worker_loop(); });
}

void Engine::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void Engine::worker_loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

std::vector<FileResult> Engine::run_batch(const std::vector<FileJob>& jobs, const PipelineOptions& options,
                                          int threads,
                                          const std::function<void(size_t, const FileResult&)>& on_done) {
  if (threads <= 0) threads = default_threads();
  std::vector<FileResult> results(jobs.size());
  if (jobs.empty()) return results;
  const int lanes = int(std::min<size_t>(size_t(threads), jobs.size()));
  ensure_workers(lanes);

  // Each lane takes the next unclaimed file until none is left.
  struct Shared {
    std::atomic<size_t> next{0};
    std::atomic<bool> write_failed{false};
    std::mutex mutex;
    std::string write_error;
    std::condition_variable done;
    int lanes_left = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->lanes_left = lanes;
  for (int lane = 0; lane < lanes; ++lane) {
    submit([&, shared] {
      for (size_t i = shared->next++; i < jobs.size(); i = shared->next++) {
        if (stop_level(options) >= kDrain) {
          results[i].status = FileStatus::kSkipped;
          results[i].error = "not started: the run was stopped";
        } else if (shared->write_failed) {
          std::lock_guard<std::mutex> lock(shared->mutex);
          results[i].status = FileStatus::kSkipped;
          results[i].error = "not started: an earlier file could not be written (" + shared->write_error + ")";
        } else {
          results[i] = process_file(jobs[i], options);
          if (results[i].write_error) {
            std::lock_guard<std::mutex> lock(shared->mutex);
            if (!shared->write_failed) shared->write_error = results[i].error;
            shared->write_failed = true;
          }
        }
        if (on_done) on_done(i, results[i]);
      }
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (--shared->lanes_left == 0) shared->done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->done.wait(lock, [&] { return shared->lanes_left == 0; });
  return results;
}

}  // namespace voxprep
