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

#include "engine/gpu.h"
#include "pipeline/file_pipeline.h"

namespace voxprep {

// The order in which `lanes` lanes claim a batch's files. With more than one, the largest
// first (by size; ties in job order; a file that cannot be looked at counts as empty and fails
// in its turn as it would anyway): a long recording claimed last would keep one lane busy
// while the others have nothing left to do. Size stands for the work a file takes, roughly
// across formats (a compressed file holds more audio per byte), but it puts the long
// recordings first. One lane takes them in job order, which is what a run's progress and a
// stopped run's extent then follow.
std::vector<size_t> claim_order(const std::vector<FileJob>& jobs, int lanes);

class Engine {
 public:
  static Engine& instance();

  // Runs every job with at most `threads` files in flight (0: all cores), on `device`
  // (chosen with choose_device), in claim_order(). Blocks until the batch is done. Without
  // `on_done`, the results come back in job order. With it, each file's result is handed to
  // it (from a pool thread, with the job's index) as the file finishes, and the batch keeps
  // none: the returned vector is empty. A batch of a hundred thousand files then holds no
  // hundred thousand results, whose small strings, made between each file's large buffers,
  // also kept the freed space around them from being reused (the heap grew some 5-8 KB a file).
  using OnDone = std::function<void(size_t, FileResult&&)>;
  std::vector<FileResult> run_batch(const std::vector<FileJob>& jobs, const PipelineOptions& options,
                                    int threads, const DeviceChoice& device, const OnDone& on_done);

  static int default_threads();
  int pool_size();

 private:
  Engine();
  ~Engine();
  void ensure_workers(int count);
  void submit(std::function<void()> task);
  struct Pool;
  void worker_loop(Pool* pool);

  // The pool lives on the heap so that a forked child, which inherits none of the threads,
  // can leave it behind whole (its mutex may even be held) and start a fresh one.
  struct Pool {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;
    std::vector<std::thread> workers;
    bool stopping = false;
  };
  static void after_fork_in_child();
  Pool* pool_ = new Pool();
};

}  // namespace voxprep
