// The process-wide engine: one thread pool that takes files and runs each through the
// pipeline. Created on first use and shared by every caller in the process (Node worker
// threads included).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "pipeline/file_pipeline.h"

namespace voxprep {

class Engine {
 public:
  static Engine& instance();

  // Runs every job with at most `threads` files in flight (0: all cores). `on_done` is
  // called from pool threads as each file finishes, with the job's index; results come
  // back in job order. Blocks until the batch is done.
  std::vector<FileResult> run_batch(const std::vector<FileJob>& jobs, const PipelineOptions& options,
                                    int threads,
                                    const std::function<void(size_t, const FileResult&)>& on_done);

  static int default_threads();
  int pool_size();

 private:
  Engine() = default;
  ~Engine();
  void ensure_workers(int count);
  void submit(std::function<void()> task);
  void worker_loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

}  // namespace voxprep
