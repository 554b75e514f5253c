#include "dsp/slicer.h"

#include <algorithm>
#include <cmath>

#include "dsp/kernels.h"

namespace voxprep {
namespace {

// Python's round(): nearest, ties to even (the current rounding mode's default).
int64_t round_half_even(double x) { return int64_t(std::nearbyint(x)); }

// Index of the first minimum of rms over the inclusive frame range [from, to].
int64_t argmin(const std::vector<double>& rms, int64_t from, int64_t to) {
  to = std::min<int64_t>(to, int64_t(rms.size()) - 1);
  int64_t best = from;
  for (int64_t i = from + 1; i <= to; ++i) {
    if (rms[size_t(i)] < rms[size_t(best)]) best = i;
  }
  return best;
}

}  // namespace

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
    const int64_t lo = std::max<int64_t>(from, 0) - base_;
    const int64_t hi = std::min<int64_t>(to, n_) - base_;
    double sum = 0;
    for (int64_t i = lo; i < hi; ++i) sum += buf_[size_t(i)] * buf_[size_t(i)];
    rms_.push_back(std::sqrt(sum / double(spec_.win)));
  }
  // Keep only what the next frame can reach.
  const int64_t next_from = int64_t(rms_.size()) * spec_.hop - pad;
  const int64_t drop = next_from - base_;
  if (drop > 65536 && drop * 2 > int64_t(buf_.size())) {
    buf_.erase(buf_.begin(), buf_.begin() + drop);
    base_ += drop;
  }
}

std::vector<std::pair<int64_t, int64_t>> slice_chunks(const std::vector<double>& rms, int64_t n,
                                                      const SlicerSpec& spec) {
  // The reference compares the sample count with a frame count here.
  if (n <= spec.min_length) return {{0, n}};
  const int64_t msk = spec.max_sil_kept;
  std::vector<std::pair<int64_t, int64_t>> tags;  // silences, in frames
  int64_t silence_start = -1, clip_start = 0;
  const int64_t total = int64_t(rms.size());
  for (int64_t i = 0; i < total; ++i) {
    if (rms[size_t(i)] < spec.threshold) {
      if (silence_start < 0) silence_start = i;
      continue;
    }
    if (silence_start < 0) continue;
    const int64_t s = silence_start;
    const bool leading = s == 0 && i > msk;
    const bool needs_cut = i - s >= spec.min_interval && i - clip_start >= spec.min_length;
    if (!leading && !needs_cut) {
      silence_start = -1;
      continue;
    }
    if (i - s <= msk) {
      const int64_t p = argmin(rms, s, i);
      tags.emplace_back(s == 0 ? 0 : p, p);
      clip_start = p;
    } else if (i - s <= 2 * msk) {
      const int64_t p = argmin(rms, i - msk, s + msk);
      const int64_t l = argmin(rms, s, s + msk);
      const int64_t r = argmin(rms, i - msk, i);
      if (s == 0) {
        tags.emplace_back(0, r);
        clip_start = r;
      } else {
        tags.emplace_back(std::min(l, p), std::max(r, p));
        clip_start = std::max(r, p);
      }
    } else {
      const int64_t l = argmin(rms, s, s + msk);
      const int64_t r = argmin(rms, i - msk, i);
      tags.emplace_back(s == 0 ? 0 : l, r);
      clip_start = r;
    }
    silence_start = -1;
  }
  if (silence_start >= 0 && total - silence_start >= spec.min_interval) {
    const int64_t end = std::min(total, silence_start + msk);
    tags.emplace_back(argmin(rms, silence_start, end), total + 1);
  }
  if (tags.empty()) return {{0, n}};

  std::vector<std::pair<int64_t, int64_t>> chunks;
  auto add = [&](int64_t a, int64_t b) { chunks.emplace_back(a * spec.hop, std::min(n, b * spec.hop)); };
  if (tags.front().first > 0) add(0, tags.front().first);
  for (size_t k = 0; k + 1 < tags.size(); ++k) add(tags[k].second, tags[k + 1].first);
  if (tags.back().second < total) add(tags.back().second, total);
  return chunks;
}

}  // namespace voxprep
