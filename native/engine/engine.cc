#include "engine/engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <optional>

#include "pipeline/device_stages.h"

namespace voxprep {

namespace {
Engine* the_engine = nullptr;
}  // namespace

std::vector<size_t> claim_order(const std::vector<FileJob>& jobs, int lanes) {
  std::vector<size_t> order(jobs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  if (lanes <= 1) return order;
  std::vector<int64_t> size(jobs.size(), 0);
  for (size_t i = 0; i < jobs.size(); ++i) {
    struct stat st;
    if (::stat(jobs[i].path.c_str(), &st) == 0) size[i] = int64_t(st.st_size);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return size[a] > size[b]; });
  return order;
}

Engine& Engine::instance() {
  // Leaked on purpose: the pool must outlive every caller, including static destructors.
  static Engine* engine = new Engine();
  return *engine;
}

Engine::Engine() {
  the_engine = this;
  install_fork_guard(&Engine::after_fork_in_child);
}

void Engine::after_fork_in_child() {
  // Only the forking thread exists in the child: the old pool's threads are gone, and its
  // lock and queue are in whatever state they were. Leak it all and start afresh; the
  // thread objects must not be destroyed (they are joinable and would abort the process).
  if (the_engine) the_engine->pool_ = new Pool();
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    pool_->stopping = true;
  }
  pool_->wake.notify_all();
  for (auto& t : pool_->workers) t.join();
}

int Engine::default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

int Engine::pool_size() {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  return int(pool_->workers.size());
}

void Engine::ensure_workers(int count) {
  Pool* pool = pool_;
  std::lock_guard<std::mutex> lock(pool->mutex);
  while (int(pool->workers.size()) < count) pool->workers.emplace_back([this, pool] { worker_loop(pool); });
}

void Engine::submit(std::function<void()> task) {
  Pool* pool = pool_;
  {
    std::lock_guard<std::mutex> lock(pool->mutex);
    pool->tasks.push_back(std::move(task));
  }
  pool->wake.notify_one();
}

void Engine::worker_loop(Pool* pool) {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(pool->mutex);
      pool->wake.wait(lock, [pool] { return pool->stopping || !pool->tasks.empty(); });
      if (pool->tasks.empty()) return;
      task = std::move(pool->tasks.front());
      pool->tasks.pop_front();
    }
    task();
  }
}

std::vector<FileResult> Engine::run_batch(const std::vector<FileJob>& jobs, const PipelineOptions& options,
                                          int threads, const DeviceChoice& device,
                                          const OnDone& on_done) {
  if (threads <= 0) threads = default_threads();
  std::vector<FileResult> results(on_done ? 0 : jobs.size());
  if (jobs.empty()) return results;
  // A finished file's result: to on_done, or kept for the return.
  auto done = [&](size_t index, FileResult&& r) {
    if (on_done) on_done(index, std::move(r));
    else results[index] = std::move(r);
  };
  const int lanes = int(std::min<size_t>(size_t(threads), jobs.size()));
  ensure_workers(lanes);

  // Each lane takes the next unclaimed file until none is left.
  const std::vector<size_t> order = claim_order(jobs, lanes);
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
      // This worker's device (kept across files and batches), or an error for each file. On
      // a device, the segments of consecutive files wait in one batch (one launch for many
      // files' 16 kHz outputs); each file is reported once its outputs are published. Making
      // the batch uploads to the device, which can fail like the device itself.
      Device* lane_device = nullptr;
      std::optional<OutputBatch> batch;
      std::string device_error;
      try {
        lane_device = worker_device(device);
        if (lane_device) batch.emplace(*lane_device, options);
      } catch (const std::exception& e) {
        device_error = device_setup_error(e);
      }
      auto note_write_error = [&](const FileResult& r) {
        if (!r.write_error) return;
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (!shared->write_failed) shared->write_error = r.error;
        shared->write_failed = true;
      };
      auto finish_batch = [&] {
        if (!batch || batch->empty()) return;
        for (auto& [index, r] : batch->finish(stop_level(options) >= kAbandon)) {
          note_write_error(r);
          done(index, std::move(r));
        }
      };
      // On the CPU: the last file processed, held until its outputs are written (HeldFile), and
      // the first write failure met publishing this lane's files.
      std::optional<HeldFile> held;
      std::string held_write_failure;
      auto publish_held_file = [&] {
        if (!held) return;
        const size_t index = held->index;
        FileResult r = publish_held(*held, options);
        held.reset();
        if (r.write_error && held_write_failure.empty()) held_write_failure = r.error;
        note_write_error(r);
        done(index, std::move(r));
      };
      const std::function<void()> publish_if_written = [&] {
        if (held && held->written()) publish_held_file();
      };
      for (size_t claim = shared->next++; claim < jobs.size(); claim = shared->next++) {
        const size_t i = order[claim];
        FileResult r;
        if (stop_level(options) >= kDrain) {
          r.status = FileStatus::kSkipped;
          r.error = "not started: the run was stopped";
        } else if (shared->write_failed) {
          std::lock_guard<std::mutex> lock(shared->mutex);
          r.status = FileStatus::kSkipped;
          r.error = "not started: an earlier file could not be written (" + shared->write_error + ")";
        } else if (!device_error.empty()) {
          r.status = FileStatus::kFailed;
          r.error = device_error;
        } else {
          HeldFile next;
          r = process_file(jobs[i], options, lane_device, batch ? &*batch : nullptr, i, &next, publish_if_written);
          note_write_error(r);
          if (r.deferred && !batch) {
            publish_held_file();  // the file before, if its writes had not all run yet
            if (held_write_failure.empty()) {
              held = std::move(next);
              continue;
            }
            // Its outputs go (with `next`), as when a batch meets a write failure.
            r = after_write_failure(held_write_failure);
          }
        }
        if (r.deferred) {
          // Reported when the batch runs: once it has gathered a launch's worth, or at the end.
          if (batch->staged() == 0 || batch->staged() >= DeviceSegmentBatch::kBatchSamples / 2) finish_batch();
          continue;
        }
        done(i, std::move(r));
      }
      publish_held_file();
      finish_batch();
      release_kept_buffers();
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (--shared->lanes_left == 0) shared->done.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->done.wait(lock, [&] { return shared->lanes_left == 0; });
  return results;
}

}  // namespace voxprep
