// I/O beside the computation: a thread that reads inputs or writes outputs gets a helper
// thread for each (started on first use, ended with it) that runs its file operations in the
// order they were posted. Writing behind (create, write, complete, remove: the kernel's
// share, allocating inodes and copying into the page cache, was a fifth of a worker's time on
// the bench corpus) and reading ahead (the next block of input, decoded to mono: another
// tenth) then overlap the worker's computing instead of stalling it. The data in flight is
// bounded, so memory stays bounded too.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace voxprep {

class IoThread {
 public:
  // The calling thread's own helpers: one for its writes, one for its reads.
  static IoThread& for_writing();
  static IoThread& for_reading();

  // Runs `op` on the helper thread after everything posted before it. `bytes` (the data the
  // operation carries) counts against the bound until it has run: while the bound is
  // reached, this waits.
  void post(std::function<void()> op, size_t bytes);

  IoThread();
  ~IoThread();  // runs what is still posted, then ends the helper thread
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  static constexpr size_t kMaxBytesInFlight = size_t(2) << 20;

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable changed_;
  struct Op {
    std::function<void()> run;
    size_t bytes;
  };
  std::deque<Op> queue_;
  size_t bytes_in_flight_ = 0;
  bool ending_ = false;
  std::thread helper_;
};

}  // namespace voxprep
