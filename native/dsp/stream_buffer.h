// The buffers the streaming stages hand the signal on in. Each stage keeps the samples its
// next outputs may still read in a vector that starts at some position of the stream; what
// lies before the first sample still needed is dropped from its front, by one rule for when,
// shared by them all (drop_front). The vector type (SampleBuffer) grows without zero-filling.
#pragma once

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

}  // namespace voxprep
