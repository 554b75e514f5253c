#include "dsp/block_iir.h"

namespace voxprep {

std::array<double, 4> biquad_block_transition(const kernels::Biquad& s, long long len) {
  // Column j is where the unit state e_j goes after len steps of zero input.
  std::array<double, 4> m{};
  for (int j = 0; j < 2; ++j) {
    double z[2] = {j == 0 ? 1.0 : 0.0, j == 1 ? 1.0 : 0.0};
    for (long long i = 0; i < len; ++i) kernels::biquad_step(s, z, 0.0);
    m[size_t(j)] = z[0];
    m[size_t(2 + j)] = z[1];
  }
  return m;
}

void highpass_block_parallel(const kernels::Biquad* sections, int count, double* x, long long n, long long len,
                             double* state) {
  if (n <= 0) return;
  const long long blocks = (n + len - 1) / len;
  std::vector<double> ends(size_t(2 * blocks)), starts(size_t(2 * blocks));
  for (int s = 0; s < count; ++s) {
    const std::array<double, 4> m = biquad_block_transition(sections[s], len);
    for (long long b = 0; b < blocks; ++b) kernels::biquad_block_end_state(sections[s], x, n, len, b, ends.data());
    kernels::biquad_carry(m.data(), ends.data(), blocks, state + 2 * s, starts.data());
    for (long long b = 0; b < blocks; ++b) kernels::biquad_block_run(sections[s], x, n, len, b, starts.data(), state + 2 * s);
  }
}

}  // namespace voxprep
