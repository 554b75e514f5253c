// Storage on a cache line for the arrays that vector loops read and write.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace voxprep {

// Where the arrays that vector loops read and write start: on a cache line. malloc gives 16
// bytes, so half the time a vector's 32-byte loads straddle 32-byte boundaries, and every
// other such load two cache lines; the FFT's passes then ran 20–30% slower (its work arrays
// and twiddles placed 16 bytes off, against on a line), by where the heap happened to put
// them. Only for arrays made once and reused: the streamed signal's buffers, which grow and
// are freed all the time, stay with malloc. Aligned too, they made the bench 3–5% faster but
// its 2-thread run's peak memory 4–7 MB higher (18% above 1 thread's, against 12%; the issue
// allows 20%): glibc keeps more of them in its arenas.
constexpr std::size_t kVectorAlignment = 64;

// An allocator of kVectorAlignment-aligned storage.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kVectorAlignment))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kVectorAlignment)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept {
    return false;
  }
};

// A vector on a cache line: the arrays of the FFT, the resampler's spectra and coefficients,
// the high-pass's lanes, the noise reduction's rows.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace voxprep
