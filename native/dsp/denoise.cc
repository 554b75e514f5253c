#include "dsp/denoise.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "dsp/denoise_kernels.h"

namespace voxprep {
namespace {

using S = DenoiseSpec;

// The row loops below run over the bins of one frame (or the samples of one frame), where
// every element is independent: they vectorize. Same operations in the same order on every
// instruction set, so the same bits.

// |S| of one frame, and the noise floor's forward pass: level = b·|S| + (1 − b)·previous
// level, where the first frame starts from its own value (the filter's steady state).
// `magnitude` (when given) keeps |S|.
__attribute__((target_clones("avx512f", "avx2", "default")))
void magnitude_forward(const double* __restrict re, const double* __restrict im, const double* __restrict prev,
                       double* __restrict level, double* __restrict magnitude, int bins, double b, double c) {
  for (int k = 0; k < bins; ++k) {
    const double m = std::sqrt(re[k] * re[k] + im[k] * im[k]);
    if (magnitude) magnitude[k] = m;
    level[k] = kernels::floor_step(b, c, m, prev ? prev[k] : m);
  }
}

// The noise floor's backward pass over one frame; `floor` holds the next frame's result and
// is updated in place.
__attribute__((target_clones("avx512f", "avx2", "default")))
void backward(const double* __restrict level, double* __restrict floor, int bins, double b, double c) {
  for (int k = 0; k < bins; ++k) floor[k] = kernels::floor_step(b, c, level[k], floor[k]);
}

// The backward pass and the mask of one frame, from its magnitudes and forward-smoothed
// magnitudes (`level`) into `mask`.
__attribute__((target_clones("avx512f", "avx2", "default")))
void backward_and_mask(const double* __restrict magnitude, const double* __restrict level, double* __restrict floor,
                       double* __restrict mask, int bins, double b, double c) {
  for (int k = 0; k < bins; ++k) {
    const double f = kernels::floor_step(b, c, level[k], floor[k]);
    floor[k] = f;
    mask[k] = kernels::gate_mask(magnitude[k], f, S::kThresholdMultiple, S::kSigmoidSlope);
  }
}

// The smoothing along time, as sums over boxes of g + 1 rows: the triangle over g is the
// convolution of two boxes, so frame t's smoothed row is U[t] / (g + 1)², where U[t] =
// B[t − g] + … + B[t] and B[u] = m[u] + … + m[u + g] (m the mask rows, zero outside the
// chunk's frames). Output frames go down one at a time, and each takes U and B from the
// frame above with one row in and one out: four additions per bin instead of 2g + 1
// multiply-adds. `slot` holds B[t + 1] on entry and B[t − g] on return; `newest` is B[t − g + 1].
__attribute__((target_clones("avx512f", "avx2", "default")))
void slide_time_boxes(const double* __restrict newest, const double* __restrict row_in, const double* __restrict row_out,
                      double* __restrict slot, double* __restrict sum, int n) {
  for (int k = 0; k < n; ++k) {
    const double box = (newest[k] + row_in[k]) - row_out[k];
    sum[k] = (sum[k] - slot[k]) + box;
    slot[k] = box;
  }
}

// out[k] = sum[k] · scale
__attribute__((target_clones("avx512f", "avx2", "default")))
void scaled(const double* __restrict sum, double scale, double* __restrict out, int n) {
  for (int k = 0; k < n; ++k) out[k] = sum[k] * scale;
}

// The smoothing along frequency (over `padded`, the row with g zeros on each side), the
// strength, and the mask applied: gain[k] = (Σ_i taps[i] · padded[k + i]) · p + (1 − p),
// S'[k] = S[k] · gain[k].
__attribute__((target_clones("avx512f", "avx2", "default")))
void smooth_frequency_and_apply(const double* __restrict padded, const double* __restrict taps, int ntaps,
                                double* __restrict gain, int bins, double p, const double* __restrict re,
                                const double* __restrict im, double* __restrict out_re, double* __restrict out_im) {
  for (int k = 0; k < bins; ++k) gain[k] = 0;
  int i = 0;
  for (; i + 4 <= ntaps; i += 4) {
    const double t0 = taps[i], t1 = taps[i + 1], t2 = taps[i + 2], t3 = taps[i + 3];
    const double* p = padded + i;
    for (int k = 0; k < bins; ++k) gain[k] = (((gain[k] + t0 * p[k]) + t1 * p[k + 1]) + t2 * p[k + 2]) + t3 * p[k + 3];
  }
  for (; i < ntaps; ++i) {
    const double tap = taps[i];
    for (int k = 0; k < bins; ++k) gain[k] += tap * padded[k + i];
  }
  for (int k = 0; k < bins; ++k) {
    const double g = kernels::mask_at_strength(gain[k], p);
    out_re[k] = re[k] * g;
    out_im[k] = im[k] * g;
  }
}

// out[i] += frame[i] · window[i]
__attribute__((target_clones("avx512f", "avx2", "default")))
void overlap_add(double* __restrict out, const double* __restrict frame, const double* __restrict window, int n) {
  for (int i = 0; i < n; ++i) out[i] += frame[i] * window[i];
}

// out[i] = 0 + frame[i] · window[i]: the first frame to reach a sample. Adding it to zero
// keeps the bits of an overlap-add into a zeroed output (a −0 product becomes +0).
__attribute__((target_clones("avx512f", "avx2", "default")))
void overlap_first(double* __restrict out, const double* __restrict frame, const double* __restrict window, int n) {
  for (int i = 0; i < n; ++i) out[i] = 0.0 + frame[i] * window[i];
}

// x[i] /= by[i]
__attribute__((target_clones("avx512f", "avx2", "default")))
void divide(double* __restrict x, const double* __restrict by, int n) {
  for (int i = 0; i < n; ++i) x[i] /= by[i];
}

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

}  // namespace

DenoiseDesign DenoiseDesign::make(int sample_rate, double strength) {
  if (sample_rate <= 0) throw std::invalid_argument("noise reduction: sample rate must be positive");
  if (!(strength > 0 && strength <= 1)) {
    throw std::invalid_argument("noise reduction strength must be more than 0 and at most 1, got " + std::to_string(strength));
  }
  DenoiseDesign d;
  d.sample_rate = sample_rate;
  d.strength = strength;
  const int n = S::kFftSize;
  std::vector<double> hann(static_cast<size_t>(n));
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    hann[size_t(i)] = kernels::hann_periodic(i, n);
    sum += hann[size_t(i)];
  }
  d.analysis_window.resize(size_t(n));
  d.synthesis_window.resize(size_t(n));
  for (int i = 0; i < n; ++i) {
    d.analysis_window[size_t(i)] = hann[size_t(i)] / sum;
    d.synthesis_window[size_t(i)] = hann[size_t(i)] * sum;
  }
  d.overlap_norm.assign(size_t(S::kHop), 0.0);
  for (int r = 0; r < S::kHop; ++r) {
    for (int i = r; i < n; i += S::kHop) d.overlap_norm[size_t(r)] += hann[size_t(i)] * hann[size_t(i)];
  }
  // The reference's figures, computed in its operation order (the truncations depend on it).
  const double t_frames = S::kTimeConstantSeconds * double(sample_rate) / double(S::kHop);
  d.floor_b = (std::sqrt(1 + 4 * t_frames * t_frames) - 1) / (2 * t_frames * t_frames);
  d.freq_half = int(S::kFreqSmoothHz / (double(sample_rate) / (double(n) / 2)));
  d.time_half = int(S::kTimeSmoothMs / ((double(S::kHop) / double(sample_rate)) * 1000));
  if (d.freq_half < 1 || d.time_half < 1) {
    throw std::invalid_argument("noise reduction: the mask smoothing is under one bin or frame at " +
                                std::to_string(sample_rate) + " Hz");
  }
  auto triangle = [](int g) {
    std::vector<double> taps(size_t(2 * g + 1));
    double total = 0;
    for (int i = 0; i <= 2 * g; ++i) total += taps[size_t(i)] = kernels::triangle_tap(i, g);
    for (double& v : taps) v /= total;
    return taps;
  };
  d.freq_taps = triangle(d.freq_half);
  d.time_taps = triangle(d.time_half);
  return d;
}

SpectralGate::SpectralGate(const DenoiseDesign& design) : d_(design), fft_(S::kFftSize) {
  bins_ = fft_.bins();
  stride_ = size_t((bins_ + 7) / 8 * 8);
  frame_.resize(size_t(S::kFftSize));
  padded_row_.assign(size_t(bins_ + 2 * d_.freq_half), 0.0);
  gain_.resize(size_t(bins_));
  spec_re_.resize(size_t(bins_));
  spec_im_.resize(size_t(bins_));
  floor_prev_.resize(size_t(bins_));
  zero_row_.assign(stride_, 0.0);
  box_rows_.resize(size_t(d_.time_half + 1) * stride_);
  mask_rows_.resize(size_t(2 * d_.time_half + 2) * stride_);
  level_block_.resize(size_t(kBlockFrames) * stride_);
  magnitude_block_.resize(size_t(kBlockFrames) * stride_);
  level_roll_.resize(2 * stride_);
  box_sum_.resize(stride_);
}

void SpectralGate::frame_spectrum(const double* x, int64_t len, int64_t t, double* re, double* im) {
  const int n = S::kFftSize;
  const int64_t start = t * S::kHop - S::kExtension;  // in the chunk; the extension is zeros
  const double* w = d_.analysis_window.data();
  if (start >= 0 && start + n <= len) {
    fft_.forward(x + start, re, im, w);
    return;
  }
  for (int i = 0; i < n; ++i) {
    const int64_t at = start + i;
    frame_[size_t(i)] = at >= 0 && at < len ? x[at] * w[i] : 0.0;
  }
  fft_.forward(frame_.data(), re, im);
}

GateFrames GateFrames::of(const DenoiseDesign& d, int64_t len, int64_t from, int64_t count) {
  const int64_t n = S::kFftSize, hop = S::kHop, ext = S::kExtension;
  if (from < n || from + count > len - n) throw std::logic_error("noise reduction: span too close to the chunk's ends");
  GateFrames g;
  // Frames of the chunk extended by `ext` zeros on each side, taken while they fit.
  g.frames = 1 + len / hop;
  // The frames that reach the span, and those their smoothed mask reaches.
  g.t_lo = std::max<int64_t>(0, ceil_div(from + ext - (n - 1), hop));
  g.t_hi = std::min<int64_t>(g.frames - 1, (from + count - 1 + ext) / hop);
  g.m_lo = std::max<int64_t>(0, g.t_lo - d.time_half);
  g.m_hi = std::min<int64_t>(g.frames - 1, g.t_hi + d.time_half);
  return g;
}

void SpectralGate::run(const double* x, int64_t len, int64_t from, int64_t count, double* out) {
  const int64_t n = S::kFftSize, hop = S::kHop, ext = S::kExtension;
  if (count <= 0) return;
  const GateFrames g = GateFrames::of(d_, len, from, count);
  const int64_t frames = g.frames, t_lo = g.t_lo, t_hi = g.t_hi, m_lo = g.m_lo, m_hi = g.m_hi;
  // The frame-by-bin arrays, kept per thread and reused by every window and file the thread
  // denoises (fresh pages cost more than the work on them): the spectra of the frames whose
  // mask the span needs, m_lo … m_hi (some 10 MB each), and the forward-smoothed magnitudes
  // that the backward pass reads as they are (see kBlockFrames): those after m_hi, and those
  // each block of m_lo … m_hi starts from (frame m_lo − 1 + j·kBlockFrames for block j).
  const int64_t blocks = (m_hi - m_lo) / kBlockFrames + 1, tail = frames - 1 - m_hi;
  thread_local std::vector<double> stft_re, stft_im, kept_levels;
  const size_t stft_cells = size_t(m_hi - m_lo + 1) * stride_, level_cells = size_t(tail + blocks) * stride_;
  if (stft_re.size() < stft_cells) {
    stft_re.resize(stft_cells);
    stft_im.resize(stft_cells);
  }
  if (kept_levels.size() < level_cells) kept_levels.resize(level_cells);
  const double b = d_.floor_b, c = 1.0 - d_.floor_b;
  auto re_row = [&](int64_t t) { return stft_re.data() + size_t(t - m_lo) * stride_; };
  auto im_row = [&](int64_t t) { return stft_im.data() + size_t(t - m_lo) * stride_; };
  // Where frame t's forward-smoothed magnitudes are kept, or null where they are not.
  auto kept_level = [&](int64_t t) -> double* {
    if (t > m_hi) return kept_levels.data() + size_t(t - m_hi - 1) * stride_;
    const int64_t j = (t - (m_lo - 1)) / kBlockFrames;
    if (t >= m_lo - 1 && (t - (m_lo - 1)) % kBlockFrames == 0 && j < blocks) {
      return kept_levels.data() + size_t(tail + j) * stride_;
    }
    return nullptr;
  };

  // Spectra, magnitudes and the noise floor's forward pass; the spectra of frames outside
  // m_lo … m_hi, and the levels not kept, go through scratch rows.
  const double* prev_level = nullptr;
  for (int64_t t = 0; t < frames; ++t) {
    const bool in_span = t >= m_lo && t <= m_hi;
    double* re = in_span ? re_row(t) : spec_re_.data();
    double* im = in_span ? im_row(t) : spec_im_.data();
    frame_spectrum(x, len, t, re, im);
    double* level = kept_level(t);
    if (!level) level = level_roll_.data() + size_t(t & 1) * stride_;
    magnitude_forward(re, im, prev_level, level, nullptr, bins_, b, c);
    prev_level = level;
  }
  // Each frame of the span: the mask smoothed over time, then frequency (the 2-D kernel is
  // the outer product of the two triangles, zero outside the mask), applied; inverse FFT and
  // overlap-add. The output is built in place, a frame at a time from the last: the part of
  // a frame below the frames already added is the first contribution there (stored, not
  // added to a zeroed output), and the samples no earlier frame reaches are final (divided
  // by the summed squared window) while still in cache. `untouched` and `unfinished` are
  // where those two regions end.
  int64_t untouched = from + count, unfinished = from + count;
  auto finalize = [&](int64_t down_to) {
    // The overlap-add's normalization repeats every hop: one vectorized run per hop.
    for (int64_t i = down_to; i < unfinished;) {
      const int64_t phase = i % hop, run = std::min<int64_t>(hop - phase, unfinished - i);
      divide(out + (i - from), d_.overlap_norm.data() + phase, int(run));
      i += run;
    }
    unfinished = std::min(unfinished, down_to);
  };
  const int gt = d_.time_half, gf = d_.freq_half;
  const int64_t boxes = gt + 1;
  // The mask's row u, zeros outside the chunk's frames. Rows live in mask_rows_ by u mod
  // its row count.
  const int64_t mask_slots = int64_t(mask_rows_.size() / stride_);
  auto mask_slot = [&](int64_t u) { return mask_rows_.data() + size_t(u % mask_slots) * stride_; };
  auto mask_row = [&](int64_t u) { return u >= 0 && u < frames ? mask_slot(u) : zero_row_.data(); };
  // B[u] lives in box_rows_ row u mod (g + 1).
  auto box_row = [&](int64_t u) { return box_rows_.data() + size_t(((u % boxes) + boxes) % boxes) * stride_; };
  int64_t boxed_down_to = INT64_MAX;  // the frame whose U is in box_sum_
  auto synthesize = [&](int64_t t) {
    if (boxed_down_to == t + 1) {
      slide_time_boxes(box_row(t - gt + 1), mask_row(t - gt), mask_row(t + 1), box_row(t + 1), box_sum_.data(), bins_);
    } else {
      // The first frame: its boxes and their sum, added up row by row.
      std::fill(box_sum_.begin(), box_sum_.end(), 0.0);
      for (int64_t u = t - gt; u <= t; ++u) {
        double* box = box_row(u);
        std::fill(box, box + bins_, 0.0);
        for (int64_t r = u; r <= u + gt; ++r) {
          const double* m = mask_row(r);
          for (int k = 0; k < bins_; ++k) box[k] += m[k];
        }
        for (int k = 0; k < bins_; ++k) box_sum_[size_t(k)] += box[k];
      }
    }
    boxed_down_to = t;
    scaled(box_sum_.data(), 1.0 / double(boxes * boxes), padded_row_.data() + gf, bins_);
    smooth_frequency_and_apply(padded_row_.data(), d_.freq_taps.data(), 2 * gf + 1, gain_.data(), bins_, d_.strength,
                               re_row(t), im_row(t), spec_re_.data(), spec_im_.data());
    fft_.inverse(spec_re_.data(), spec_im_.data(), frame_.data());
    // The frame covers chunk samples [hop·t − ext, hop·t − ext + n).
    const int64_t start = t * hop - ext;
    const int64_t lo = std::max(start, from), hi = std::min(start + n, from + count);
    if (hi > lo) {
      const double* w = d_.synthesis_window.data();
      const int64_t mid = std::min(hi, untouched);
      if (mid > lo) overlap_first(out + (lo - from), frame_.data() + (lo - start), w + (lo - start), int(mid - lo));
      if (hi > mid) overlap_add(out + (mid - from), frame_.data() + (mid - start), w + (mid - start), int(hi - mid));
      untouched = std::min(untouched, lo);
    }
    // Frame t − 1 ends at start − hop + n: what lies above is final.
    finalize(std::max(from, start - hop + n));
  };
  // The backward pass, starting in the steady state of the last frame, with the mask where
  // the smoothing needs it (frames before m_lo matter to nothing). Output frames follow it
  // down, each as soon as the mask of its last neighbour is known, while its spectrum is
  // still in cache.
  int64_t next_out = t_hi;  // output frames are made from t_hi down to t_lo
  for (int64_t t = frames - 1; t >= m_lo; --t) {
    const int64_t first = m_lo + (t - m_lo) / kBlockFrames * kBlockFrames;  // of t's block
    if (t <= m_hi && (t == m_hi || t == first + kBlockFrames - 1)) {
      // Entering a block: its magnitudes and levels again, forward from its kept start.
      for (int64_t u = first; u <= t; ++u) {
        const size_t row = size_t(u - first) * stride_;
        const double* prev = u > first ? level_block_.data() + row - stride_ : u > 0 ? kept_level(u - 1) : nullptr;
        magnitude_forward(re_row(u), im_row(u), prev, level_block_.data() + row, magnitude_block_.data() + row, bins_, b,
                          c);
      }
    }
    const double* level = t > m_hi ? kept_level(t) : level_block_.data() + size_t(t - first) * stride_;
    if (t == frames - 1) std::copy(level, level + bins_, floor_prev_.begin());
    if (t > m_hi) {
      backward(level, floor_prev_.data(), bins_, b, c);
      continue;
    }
    backward_and_mask(magnitude_block_.data() + size_t(t - first) * stride_, level, floor_prev_.data(), mask_slot(t),
                      bins_, b, c);
    for (; next_out >= t_lo && next_out - gt >= t; --next_out) synthesize(next_out);
  }
  for (; next_out >= t_lo; --next_out) synthesize(next_out);
  finalize(from);
}

Denoiser::Denoiser(int sample_rate, double strength, const MakeGate& make_gate)
    : design_(DenoiseDesign::make(sample_rate, strength)),
      gate_(make_gate ? make_gate(design_) : std::make_unique<SpectralGate>(design_)) {
  reset();
}

void Denoiser::reset() {
  buf_.reserve(size_t(S::kChunk + 2 * S::kPadding));
  buf_.assign(size_t(S::kPadding), 0.0);
  pushed_ = 0;
  window_ = 0;
}

void Denoiser::run_window(int64_t count, const Sink& sink) {
  if (span_.size() < size_t(count)) span_.resize(size_t(count));
  gate_->run(buf_.data(), int64_t(buf_.size()), S::kPadding, count, span_.data());
  sink(span_.data(), size_t(count));
  const size_t drop = std::min(buf_.size(), size_t(S::kChunk));
  buf_.erase(buf_.begin(), buf_.begin() + long(drop));
  ++window_;
}

void Denoiser::push(const double* x, size_t n, const Sink& sink) {
  while (n > 0) {
    // Window k's chunk ends kPadding after its span; once it is complete the signal is
    // longer than one window, so the full-length layout applies.
    const int64_t chunk_end = S::kChunk * (window_ + 1) + S::kPadding;
    const size_t take = size_t(std::min<int64_t>(int64_t(n), chunk_end - pushed_));
    buf_.insert(buf_.end(), x, x + take);
    pushed_ += int64_t(take);
    x += take;
    n -= take;
    if (pushed_ == chunk_end) run_window(S::kChunk, sink);
  }
}

void Denoiser::finish(const Sink& sink) {
  if (pushed_ > 0 && window_ == 0 && pushed_ <= S::kChunk) {
    // One window: the signal with kPadding zeros on each side.
    buf_.resize(buf_.size() + size_t(S::kPadding), 0.0);
    run_window(pushed_, sink);
  } else {
    // The remaining windows at full length, with zeros past the signal's end.
    while (S::kChunk * window_ < pushed_) {
      const int64_t count = std::min(S::kChunk, pushed_ - S::kChunk * window_);
      buf_.resize(size_t(S::kChunk + 2 * S::kPadding), 0.0);
      run_window(count, sink);
    }
  }
  buf_.clear();
  buf_.shrink_to_fit();
  span_.clear();
  span_.shrink_to_fit();
}

void Denoiser::push(const double* x, size_t n, std::vector<double>& out) {
  push(x, n, [&](const double* y, size_t m) { out.insert(out.end(), y, y + m); });
}

void Denoiser::finish(std::vector<double>& out) {
  finish([&](const double* y, size_t m) { out.insert(out.end(), y, y + m); });
}

}  // namespace voxprep
