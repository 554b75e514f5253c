#include "dsp/slicer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "dsp/kernels.h"
#include "dsp/stream_buffer.h"

namespace voxprep {
namespace {

// Python's round(): nearest, ties to even (the current rounding mode's default).
int64_t round_half_even(double x) { return int64_t(std::nearbyint(x)); }

}  // namespace

int64_t rms_argmin(const std::vector<double>& rms, int64_t from, int64_t to) {
  to = std::min<int64_t>(to, int64_t(rms.size()) - 1);
  int64_t best = from;
  for (int64_t i = from + 1; i <= to; ++i) {
    if (rms[size_t(i)] < rms[size_t(best)]) best = i;
  }
  return best;
}

bool run_makes_cut(int64_t s, int64_t i, int64_t clip_start, const SlicerSpec& spec) {
  const bool leading = s == 0 && i > spec.max_sil_kept;
  const bool needs_cut = i - s >= spec.min_interval && i - clip_start >= spec.min_length;
  return leading || needs_cut;
}

std::pair<int64_t, int64_t> silence_tag(const std::vector<double>& rms, int64_t s, int64_t i, const SlicerSpec& spec) {
  const int64_t msk = spec.max_sil_kept;
  if (i - s <= msk) {  // short run
    const int64_t p = rms_argmin(rms, s, i);
    return {s == 0 ? 0 : p, p};
  }
  const int64_t l = rms_argmin(rms, s, s + msk);
  const int64_t r = rms_argmin(rms, i - msk, i);
  if (i - s <= 2 * msk) {  // medium run
    const int64_t p = rms_argmin(rms, i - msk, s + msk);
    if (s == 0) return {0, r};
    return {std::min(l, p), std::max(r, p)};
  }
  return {s == 0 ? 0 : l, r};  // long run
}

bool final_silence_tag(const std::vector<double>& rms, int64_t s, const SlicerSpec& spec, std::pair<int64_t, int64_t>* tag) {
  const int64_t total = int64_t(rms.size());
  if (total - s < spec.min_interval) return false;
  *tag = {rms_argmin(rms, s, std::min(total, s + spec.max_sil_kept)), total + 1};
  return true;
}

SlicerSpec SlicerSpec::for_rate(int sample_rate) {
  // The expressions keep the reference's operation order, so the roundings agree.
  const double sr = sample_rate;
  SlicerSpec s;
  s.threshold = std::pow(10.0, kThresholdDb / 20.0);
  s.hop = round_half_even(sr * kHopMs / 1000);
  const double min_interval_samples = sr * kMinIntervalMs / 1000;
  s.win = std::min(round_half_even(min_interval_samples), 4 * s.hop);
  s.min_length = round_half_even(sr * kMinLengthMs / 1000 / double(s.hop));
  s.min_interval = round_half_even(min_interval_samples / double(s.hop));
  s.max_sil_kept = round_half_even(sr * kMaxSilKeptMs / 1000 / double(s.hop));
  // Frames are summed by hops (kernels::frame_rms_at): four of them, at every rate voxprep takes.
  if (s.hop < 1 || s.win != 4 * s.hop) {
    throw std::invalid_argument("slicer: at " + std::to_string(sample_rate) + " Hz a frame is not four hops");
  }
  return s;
}

void RmsFramer::push(const double* x, size_t n) {
  buf_.insert(buf_.end(), x, x + n);
  n_ += int64_t(n);
  compute_ready(n_);
}

void RmsFramer::finish() {
  finished_ = true;
  compute_ready(n_);
}

void RmsFramer::compute_ready(int64_t available_to) {
  const int64_t pad = spec_.win / 2;
  const int64_t total = finished_ ? 1 + (n_ + 2 * pad - spec_.win) / spec_.hop : INT64_MAX;
  while (int64_t(rms_.size()) < total) {
    const int64_t t = int64_t(rms_.size());
    const int64_t from = t * spec_.hop - pad;
    const int64_t to = from + spec_.win;
    if (!finished_ && to > available_to) break;
    // Samples outside [0, n) are the zero padding.
    rms_.push_back(kernels::frame_rms_at(buf_.data() - base_, t, spec_.hop, n_));
  }
  // Keep only what the next frame can reach.
  drop_front(buf_, base_, int64_t(rms_.size()) * spec_.hop - pad);
}

std::vector<std::pair<int64_t, int64_t>> slice_chunks(const std::vector<double>& rms, int64_t n,
                                                      const SlicerSpec& spec) {
  // The reference compares the sample count with a frame count here.
  if (n <= spec.min_length) return {{0, n}};
  std::vector<std::pair<int64_t, int64_t>> tags;  // silences, in frames
  int64_t silence_start = -1, clip_start = 0;
  const int64_t total = int64_t(rms.size());
  for (int64_t i = 0; i < total; ++i) {
    if (rms[size_t(i)] < spec.threshold) {
      if (silence_start < 0) silence_start = i;
      continue;
    }
    if (silence_start < 0) continue;
    if (run_makes_cut(silence_start, i, clip_start, spec)) {
      tags.push_back(silence_tag(rms, silence_start, i, spec));
      clip_start = tags.back().second;
    }
    silence_start = -1;
  }
  std::pair<int64_t, int64_t> last;
  if (silence_start >= 0 && final_silence_tag(rms, silence_start, spec, &last)) tags.push_back(last);
  if (tags.empty()) return {{0, n}};

  std::vector<std::pair<int64_t, int64_t>> chunks;
  auto add = [&](int64_t a, int64_t b) { chunks.emplace_back(a * spec.hop, std::min(n, b * spec.hop)); };
  if (tags.front().first > 0) add(0, tags.front().first);
  for (size_t k = 0; k + 1 < tags.size(); ++k) add(tags[k].second, tags[k + 1].first);
  if (tags.back().second < total) add(tags.back().second, total);
  return chunks;
}

}  // namespace voxprep
