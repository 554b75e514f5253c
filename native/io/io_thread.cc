#include "io/io_thread.h"

#include <utility>

namespace voxprep {

IoThread& IoThread::for_writing() {
  thread_local IoThread own;
  return own;
}

IoThread& IoThread::for_reading() {
  thread_local IoThread own;
  return own;
}

IoThread::IoThread() : helper_([this] { loop(); }) {}

IoThread::~IoThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ending_ = true;
  }
  changed_.notify_all();
  helper_.join();
}

void IoThread::post(std::function<void()> op, size_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  // One operation larger than the bound still goes, alone.
  changed_.wait(lock, [&] { return bytes_in_flight_ == 0 || bytes_in_flight_ + bytes <= kMaxBytesInFlight; });
  queue_.push_back(Op{std::move(op), bytes});
  bytes_in_flight_ += bytes;
  changed_.notify_all();
}

void IoThread::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || ending_; });
    if (queue_.empty()) return;  // ending, with nothing left
    Op op = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    op.run();  // operations record their own failures; they do not throw
    lock.lock();
    bytes_in_flight_ -= op.bytes;
    changed_.notify_all();
  }
}

}  // namespace voxprep
