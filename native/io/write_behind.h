// Writing behind the computation: every thread that writes outputs gets one helper thread
// that runs its file operations (create, write, complete, remove) in the order they were
// posted. The kernel's share of writing (allocating inodes, copying into the page cache: a
// fifth of a worker's time on the bench corpus) then overlaps the next segment's work
// instead of stalling it. The data in flight is bounded, so memory stays bounded too.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace voxprep {

class WriteBehind {
 public:
  // The calling thread's own (its helper thread starts on first use and ends with it).
  static WriteBehind& of_this_thread();

  // Runs `op` on the helper thread after everything posted before it. `bytes` (the data the
  // operation carries) counts against the bound until it has run: while the bound is
  // reached, this waits.
  void post(std::function<void()> op, size_t bytes);
  // Waits until everything posted so far has run.
  void sync();

  WriteBehind();
  ~WriteBehind();  // runs what is still posted, then ends the helper thread
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  static constexpr size_t kMaxBytesInFlight = size_t(16) << 20;

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
  uint64_t posted_ = 0, done_ = 0;
  bool ending_ = false;
  std::thread helper_;
};

}  // namespace voxprep
