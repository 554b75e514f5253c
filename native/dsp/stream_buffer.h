// The buffers the streaming stages hand the signal on in. Each stage keeps the samples its
// next outputs may still read in a vector that starts at some position of the stream; what
// lies before the first sample still needed is dropped from its front, by one rule for when,
// shared by them all (drop_front). The vector type (SampleBuffer) grows without zero-filling.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace voxprep {

// An allocator whose vectors grow without zero-filling: new elements are left uninitialized
// (default-initialized), for buffers whose writer fills every new element right after
// growing them.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Samples as the streaming stages hand them on: the resampler grows such a buffer by whole
// blocks and then writes them (zero-filling them first was about 2% of a worker's time).
using SampleBuffer = std::vector<double, DefaultInitAllocator<double>>;

// Appends n samples in one copy. (A vector with any allocator but std::allocator inserts a
// range element by element, several times slower than this for doubles.)
template <class Buffer>
inline void append_samples(Buffer& buf, const double* x, size_t n) {
  const size_t at = buf.size();
  buf.resize(at + n);
  if (n > 0) std::memcpy(buf.data() + at, x, n * sizeof(double));
}

// Drops the samples of `buf` (whose first is stream position `base`) before `keep_from`, in
// large steps: only once at least kMinDrop samples and half the buffer can go, so that
// erasing (which moves what stays) is rare and cheap, while the buffer stays small.
template <class Buffer>
inline void drop_front(Buffer& buf, int64_t& base, int64_t keep_from) {
  constexpr int64_t kMinDrop = 16384;
  const int64_t drop = keep_from - base;
  if (drop > kMinDrop && drop * 2 > int64_t(buf.size())) {
    buf.erase(buf.begin(), buf.begin() + drop);
    base += drop;
  }
}

// Which of the kept `buffers` (non-empty) to hand out for `at_least` elements: the one of
// least capacity that holds them, or else the largest (to grow from).
template <class Buffer>
size_t best_fitting(const std::vector<Buffer>& buffers, size_t at_least) {
  size_t pick = 0;
  for (size_t i = 1; i < buffers.size(); ++i) {
    const size_t c = buffers[i].capacity(), best = buffers[pick].capacity();
    const bool fits = c >= at_least, best_fits = best >= at_least;
    if (fits ? !best_fits || c < best : !best_fits && c > best) pick = i;
  }
  return pick;
}

// Buffers kept between files, per thread and type: a stage's buffers grown anew for every
// file, and their pages faulted in again, cost a worker about 3% of its time on the bench
// corpus (the kernel zeroing and mapping the pages). A stage takes its buffers from here when
// it starts (empty, with the capacity an earlier one grew to) and gives them back when it
// ends. At most kMaxSpares of a type stay per thread; the memory they hold is what the stages
// held at their largest, which the stages bound, and release() frees them (a worker's share
// of a run done).
template <class Buffer>
class SpareBuffers {
 public:
  static constexpr size_t kMaxSpares = 4;
  // An empty buffer: the best-fitting spare for `at_least` elements, or else a new one.
  static Buffer take(size_t at_least = SIZE_MAX) {
    auto& spares = list().buffers;
    if (spares.empty()) return Buffer();
    const size_t pick = best_fitting(spares, at_least);
    Buffer b = std::move(spares[pick]);
    spares.erase(spares.begin() + long(pick));
    kept_.fetch_sub(1, std::memory_order_relaxed);
    b.clear();
    return b;
  }
  static void give_back(Buffer&& b) {
    auto& spares = list().buffers;
    if (b.capacity() == 0) return;
    if (spares.size() < kMaxSpares) {
      spares.push_back(std::move(b));
      kept_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // Full: keep the larger of the new one and the smallest kept.
    size_t smallest = 0;
    for (size_t i = 1; i < spares.size(); ++i) {
      if (spares[i].capacity() < spares[smallest].capacity()) smallest = i;
    }
    if (spares[smallest].capacity() < b.capacity()) spares[smallest] = std::move(b);
  }
  // Frees this thread's spares of the type.
  static void release() { list().clear(); }
  // For tests: the spares of the type kept now, in all threads.
  static long kept() { return kept_.load(std::memory_order_relaxed); }

 private:
  struct List {
    std::vector<Buffer> buffers;
    void clear() {
      kept_.fetch_sub(long(buffers.size()), std::memory_order_relaxed);
      std::vector<Buffer>().swap(buffers);
    }
    ~List() { clear(); }
  };
  static List& list() {
    thread_local List spares;
    return spares;
  }
  static inline std::atomic<long> kept_{0};
};

}  // namespace voxprep
