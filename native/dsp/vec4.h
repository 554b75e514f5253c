// Four doubles as one value, for loops written out on vectors: one AVX2 register where the
// CPU has it (two SSE2 halves where not; functions that use it are cloned per instruction
// set), the same lane-wise operations either way, so the same bits.
#pragma once

namespace voxprep {

typedef double Vec4 __attribute__((vector_size(32)));
typedef double Vec4Unaligned __attribute__((vector_size(32), aligned(8)));

inline __attribute__((always_inline)) Vec4 load4(const double* p) { return *reinterpret_cast<const Vec4Unaligned*>(p); }
inline __attribute__((always_inline)) void store4(double* p, Vec4 v) { *reinterpret_cast<Vec4Unaligned*>(p) = v; }

}  // namespace voxprep
