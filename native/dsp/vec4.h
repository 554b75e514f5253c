// Four doubles as one value, for loops written out on vectors: one AVX2 register where the
// CPU has it (two SSE2 halves where not; functions that use it are cloned per instruction
// set), the same lane-wise operations either way, so the same bits. Eight doubles likewise,
// for the loops that run faster on AVX-512 (see vector_lanes() in fft.h).
#pragma once

namespace voxprep {

typedef double Vec4 __attribute__((vector_size(32)));
typedef double Vec4Unaligned __attribute__((vector_size(32), aligned(8)));

inline __attribute__((always_inline)) Vec4 load4(const double* p) { return *reinterpret_cast<const Vec4Unaligned*>(p); }
inline __attribute__((always_inline)) void store4(double* p, Vec4 v) { *reinterpret_cast<Vec4Unaligned*>(p) = v; }

typedef double Vec8 __attribute__((vector_size(64)));

// Loads and stores for either width (loops written once for both).
template <class V>
inline __attribute__((always_inline)) V load_lanes(const double* p) {
  typedef double Unaligned __attribute__((vector_size(sizeof(V)), aligned(8)));
  return *reinterpret_cast<const Unaligned*>(p);
}
template <class V>
inline __attribute__((always_inline)) void store_lanes(double* p, V v) {
  typedef double Unaligned __attribute__((vector_size(sizeof(V)), aligned(8)));
  *reinterpret_cast<Unaligned*>(p) = v;
}
template <class V>
constexpr int lanes_of = int(sizeof(V) / sizeof(double));

// Rows a, b, c, d become columns.
inline __attribute__((always_inline)) void transpose4(Vec4& a, Vec4& b, Vec4& c, Vec4& d) {
  const Vec4 ab_even = __builtin_shufflevector(a, b, 0, 4, 2, 6);
  const Vec4 ab_odd = __builtin_shufflevector(a, b, 1, 5, 3, 7);
  const Vec4 cd_even = __builtin_shufflevector(c, d, 0, 4, 2, 6);
  const Vec4 cd_odd = __builtin_shufflevector(c, d, 1, 5, 3, 7);
  a = __builtin_shufflevector(ab_even, cd_even, 0, 1, 4, 5);
  b = __builtin_shufflevector(ab_odd, cd_odd, 0, 1, 4, 5);
  c = __builtin_shufflevector(ab_even, cd_even, 2, 3, 6, 7);
  d = __builtin_shufflevector(ab_odd, cd_odd, 2, 3, 6, 7);
}

}  // namespace voxprep
