// What one GPU thread computes in each launch, as plain functions of the thread's index:
// the CUDA kernels call them from __global__ wrappers (cuda/kernels.cu), and the host
// device (cuda/host_device.cc) calls them in loops, so that the batched path's indexing is
// tested on machines without a GPU. The arithmetic itself is dsp/kernels.h's, shared with
// the CPU stages.
#pragma once

#include "dsp/block_iir.h"
#include "dsp/kernels.h"

namespace voxprep {
namespace batch {

// One signal of a batched resampling launch. Its input sits at in + in_offset and holds the
// signal's samples from index in_base on (zeros written around it where the signal has
// none); its outputs first .. first + count − 1 go to out + out_offset.
struct ResampleItem {
  long long in_offset, in_base, out_offset, first, count;
};

struct ResampleLaunch {
  const double* table;  // the design's polyphase table (device memory on the GPU)
  int taps, lead;
  long long up, down;
  const ResampleItem* items;
  int item_count;
  const double* in;
  double* out;
  long long total_out;  // sum of the items' counts: one thread each
};

// The item holding output i: the last whose out_offset ≤ i (items are in output order).
VOXPREP_HD int find_item(const ResampleItem* items, int count, long long i) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (items[mid].out_offset <= i) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

VOXPREP_HD void resample_at(const ResampleLaunch& p, long long i) {
  const ResampleItem& it = p.items[find_item(p.items, p.item_count, i)];
  const long long k = it.first + (i - it.out_offset);
  long long j0, phase;
  kernels::polyphase_position(k, p.up, p.down, &j0, &phase);
  p.out[i] = kernels::polyphase_output(p.table, p.taps, phase, p.in + it.in_offset + (j0 - p.lead + 1 - it.in_base));
}

// Post normalization of many segments: each scaled in place by its own peak.
struct NormalizeItem {
  long long offset, count;
  double peak;
};
struct NormalizeLaunch {
  const NormalizeItem* items;
  int item_count;
  double* x;
  long long total;  // threads: items' samples end to end, in item order
  const long long* starts;  // prefix sums of the counts (thread index → item)
};

VOXPREP_HD void normalize_at(const NormalizeLaunch& p, long long i) {
  int lo = 0, hi = p.item_count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (p.starts[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  const NormalizeItem& it = p.items[lo];
  double& v = p.x[it.offset + (i - p.starts[lo])];
  v = kernels::normalize_sample(v, it.peak);
}

// The slicer's RMS frames first_frame .. first_frame + frames − 1 (kernels::frame_rms_at) of
// a signal whose samples from x_base on are at x; samples at or after `end` (the signal's
// end, once known) and before 0 count as zeros.
struct RmsLaunch {
  const double* x;
  long long x_base, end;
  long long first_frame, frames;
  long long hop;
  double* out;
};

VOXPREP_HD void rms_frame_at(const RmsLaunch& p, long long f) {
  p.out[f] = kernels::frame_rms_at(p.x - p.x_base, p.first_frame + f, p.hop, p.end);
}

}  // namespace batch
}  // namespace voxprep
