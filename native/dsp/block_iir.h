// The high-pass as a block-parallel scan, the form the GPU runs (and its CPU twin, which the
// tests hold against the sequential filter). For each section, in three phases:
//   1. every block is run from zero state, in parallel, keeping only its end state;
//   2. the true start state of each block is carried across the blocks, one after the
//      other: start[b+1] = M · start[b] + end[b], with M the section's state transition
//      over one block (cheap: two numbers per block);
//   3. every block is run again from its true start state, in parallel, in place.
// Phase 3 is the sequential filter itself, started from states that differ from the
// sequential run's only by float64 rounding in the carry.
#pragma once

#include <array>
#include <vector>

#include "dsp/kernels.h"

namespace voxprep {
namespace kernels {

// Phase 1, block b of a signal of n samples cut into blocks of `len`.
VOXPREP_HD void biquad_block_end_state(const Biquad& s, const double* x, long long n, long long len, long long b,
                                       double* end_state) {
  const long long from = b * len, to = from + len < n ? from + len : n;
  double z[2] = {0, 0};
  for (long long i = from; i < to; ++i) biquad_step(s, z, x[i]);
  end_state[2 * b] = z[0];
  end_state[2 * b + 1] = z[1];
}

// Phase 2: start states of `blocks` blocks from the state before the first (`initial`).
// M is row-major, applied to (z0, z1).
VOXPREP_HD void biquad_carry(const double* m, const double* end_state, long long blocks, const double* initial,
                             double* start_state) {
  double z0 = initial[0], z1 = initial[1];
  for (long long b = 0; b < blocks; ++b) {
    start_state[2 * b] = z0;
    start_state[2 * b + 1] = z1;
    const double n0 = m[0] * z0 + m[1] * z1 + end_state[2 * b];
    const double n1 = m[2] * z0 + m[3] * z1 + end_state[2 * b + 1];
    z0 = n0;
    z1 = n1;
  }
}

// Phase 3: block b from its start state, in place; the last block leaves the state after
// the whole signal in `final_state` (where the next stretch of a stream starts).
VOXPREP_HD void biquad_block_run(const Biquad& s, double* x, long long n, long long len, long long b,
                                 const double* start_state, double* final_state) {
  const long long from = b * len, to = from + len < n ? from + len : n;
  double z[2] = {start_state[2 * b], start_state[2 * b + 1]};
  for (long long i = from; i < to; ++i) x[i] = biquad_step(s, z, x[i]);
  if (to == n) {
    final_state[0] = z[0];
    final_state[1] = z[1];
  }
}

}  // namespace kernels

// The state transition of a section over `len` samples of zero input (for phase 2).
std::array<double, 4> biquad_block_transition(const kernels::Biquad& s, long long len);

// The CPU twin of the GPU's run: filters x in place through every section with blocks of
// `len`, continuing from (and updating) `state`, two values per section.
void highpass_block_parallel(const kernels::Biquad* sections, int count, double* x, long long n, long long len,
                             double* state);

}  // namespace voxprep
