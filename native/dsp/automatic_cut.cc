#include "dsp/automatic_cut.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "dsp/kernels.h"
#include "dsp/stream_buffer.h"
#include "dsp/vec4.h"

namespace voxprep {

// Blocks of four samples of four hops loaded whole and transposed, so that lane j adds hop
// j's squares one after another, as hop_squares() does; the groups of four hops run side by
// side.
__attribute__((target_clones("avx2", "default")))
void hop_squares_group(const double* x, long long lo, long long hop, double* out) {
  static_assert(kHopGroup % 4 == 0, "whole vectors of hops");
  constexpr int kVectors = kHopGroup / 4;
  Vec4 sums[kVectors] = {};
  long long k = 0;
  for (; k + 4 <= hop; k += 4) {
    for (int v = 0; v < kVectors; ++v) {
      const double* at = x + lo + 4 * v * hop + k;
      Vec4 s0 = load4(at), s1 = load4(at + hop), s2 = load4(at + 2 * hop), s3 = load4(at + 3 * hop);
      transpose4(s0, s1, s2, s3);  // s_i: sample k + i of the four hops
      sums[v] = (((sums[v] + s0 * s0) + s1 * s1) + s2 * s2) + s3 * s3;
    }
  }
  for (int j = 0; j < kHopGroup; ++j) {
    double sum = sums[j / 4][j % 4];
    for (long long i = k; i < hop; ++i) sum += x[lo + j * hop + i] * x[lo + j * hop + i];
    out[j] = sum;
  }
}

AutomaticCutter::AutomaticCutter(int sample_rate) : spec_(SlicerSpec::for_rate(sample_rate)) {
  // The same expressions as SegmentPlan::automatic.
  const double sr = sample_rate;
  step_ = sr * (AutomaticPieceSpec::kPieceSeconds - AutomaticPieceSpec::kOverlapSeconds);
  longer_than_ = (AutomaticPieceSpec::kPieceSeconds + AutomaticPieceSpec::kOverlapSeconds) * sr;
  piece_ = int64_t(AutomaticPieceSpec::kPieceSeconds * sr);
}

AutomaticCutter::~AutomaticCutter() {
  SpareBuffers<SampleBuffer>::give_back(std::move(hist_));
  SpareBuffers<std::vector<double>>::give_back(std::move(frozen_samples_));
}

int64_t AutomaticCutter::next_piece_start() const { return chunk_begin_ + int64_t(step_ * double(piece_index_)); }

const double* AutomaticCutter::samples(int64_t begin, int64_t end) const {
  if (frozen_ && begin >= frozen_base_ && end <= frozen_base_ + int64_t(frozen_samples_.size())) {
    return frozen_samples_.data() + (begin - frozen_base_);
  }
  if (begin < hist_base_ || end > n_) throw std::logic_error("automatic cut: segment samples no longer held");
  return hist_.data() + (begin - hist_base_);
}

void AutomaticCutter::push(const double* x, size_t n, const Emit& emit, const std::vector<double>* frames) {
  if (!frames && n > kMaxBlock) {
    // A long block (the noise reduction hands on 600 000 samples at once) goes in parts, so
    // that the history, which each part's final pieces leave, stays small enough to stay in
    // cache. The segments do not depend on how the signal is cut into blocks.
    for (size_t at = 0; at < n; at += kMaxBlock) push(x + at, std::min(kMaxBlock, n - at), emit, nullptr);
    return;
  }
  append_samples(hist_, x, n);
  took(n, emit, frames);
}

void AutomaticCutter::took(size_t n, const Emit& emit, const std::vector<double>* frames) {
  if (hist_.size() != size_t(n_ - hist_base_) + n) throw std::logic_error("automatic cut: input() changed other than by appending");
  n_ += int64_t(n);
  size_t given = 0;
  if (frames) {
    // Frame t covers samples [t·hop − win/2, t·hop − win/2 + win), zero before the start.
    const int64_t pad = spec_.win / 2;
    for (;;) {
      const int64_t t = int64_t(rms_.size());
      if (t * spec_.hop - pad + spec_.win > n_) break;
      if (given == frames->size()) throw std::logic_error("automatic cut: fewer RMS frames than samples");
      rms_.push_back((*frames)[given++]);
      walk_frame(t, emit);
    }
  } else {
    // Whole hops' sums of squares, a group at a time (hops short of a whole group wait for
    // the next block, or finish(): alone, a hop's sum is one long chain of dependent
    // additions), then every frame whose four hops t − 2 … t + 1 are in.
    const double* signal = hist_.data() - hist_base_;  // indexed by signal position
    for (int64_t k = hops_end(); (k + kHopGroup) * spec_.hop <= n_; k += kHopGroup) {
      double group[kHopGroup];
      hop_squares_group(signal, k * spec_.hop, spec_.hop, group);
      hops_.insert(hops_.end(), group, group + kHopGroup);
    }
    while (int64_t(rms_.size()) + 2 <= hops_end()) {
      const int64_t t = int64_t(rms_.size());
      rms_.push_back(frame_from_hops(t));
      walk_frame(t, emit);
    }
    drop_front(hops_, hops_base_, int64_t(rms_.size()) - 2);
  }
  if (frames && given != frames->size()) throw std::logic_error("automatic cut: more RMS frames than samples");
  if (chunk_open_) {
    // Pieces ending well before any possible end of the open chunk are final.
    const int64_t bound = (silence_start_ >= 0 ? silence_start_ : int64_t(rms_.size())) * spec_.hop;
    while (!frozen_ && double(bound - next_piece_start()) > longer_than_) {
      const int64_t start = next_piece_start();
      emit(Segment{start, start + piece_, idx1_++}, samples(start, start + piece_));
      ++piece_index_;
    }
  }
  trim();
}

double AutomaticCutter::frame_from_hops(int64_t t) const {
  auto hop = [&](int64_t k) { return k >= hops_base_ && k < hops_end() ? hops_[size_t(k - hops_base_)] : 0.0; };
  return kernels::frame_rms_of_hops(hop(t - 2), hop(t - 1), hop(t), hop(t + 1), spec_.win);
}

void AutomaticCutter::walk_frame(int64_t i, const Emit& emit) {
  // The reference's walk (as slice_chunks does it), one frame at a time.
  if (rms_[size_t(i)] < spec_.threshold) {
    if (silence_start_ < 0) silence_start_ = i;
    maybe_freeze(i);
    return;
  }
  if (silence_start_ < 0) return;
  const int64_t s = silence_start_;
  silence_start_ = -1;
  if (!run_makes_cut(s, i, clip_start_, spec_)) return;
  const auto [start, end] = silence_tag(rms_, s, i, spec_);
  clip_start_ = end;
  add_tag(start, end, emit);
}

void AutomaticCutter::add_tag(int64_t start, int64_t end, const Emit& emit) {
  // The open chunk ends where this silence starts; the reference keeps no chunk before a
  // first silence that starts at the very beginning.
  if (have_tag_ || start > 0) emit_pieces(std::min(n_, start * spec_.hop), emit);
  have_tag_ = true;
  last_tag_end_ = end;
  frozen_ = false;
  frozen_samples_.clear();
  chunk_begin_ = end * spec_.hop;
  piece_index_ = 0;
  chunk_open_ = true;
}

void AutomaticCutter::emit_pieces(int64_t chunk_end, const Emit& emit) {
  const int64_t end = std::max(chunk_end, chunk_begin_);
  for (;;) {
    const int64_t start = next_piece_start();
    ++piece_index_;
    if (double(end - start) > longer_than_) {
      emit(Segment{start, start + piece_, idx1_++}, samples(start, start + piece_));
    } else {
      emit(Segment{start, end, idx1_++}, end > start ? samples(start, end) : nullptr);
      break;
    }
  }
  chunk_open_ = false;
}

void AutomaticCutter::maybe_freeze(int64_t i) {
  const int64_t s = silence_start_, msk = spec_.max_sil_kept;
  if (frozen_ || !chunk_open_) return;
  // From here on this run is certain to end in a tag (long run, cut certain) whose start
  // lies in [s, s + msk] and whose end lies at or after i − msk.
  const bool certain = i - s > 2 * msk + 1 && i - s >= spec_.min_interval &&
                       (s == 0 || i - clip_start_ >= spec_.min_length);
  if (!certain) return;
  frozen_base_ = std::min(next_piece_start(), (s + msk + 1) * spec_.hop);
  const int64_t frozen_end = std::min(n_, (s + msk + 1) * spec_.hop);
  if (frozen_base_ < hist_base_) throw std::logic_error("automatic cut: frozen samples no longer held");
  frozen_samples_.assign(hist_.begin() + (frozen_base_ - hist_base_), hist_.begin() + (frozen_end - hist_base_));
  frozen_ = true;
}

void AutomaticCutter::trim() {
  const int64_t next_frame = int64_t(rms_.size());
  int64_t keep = next_frame * spec_.hop - spec_.win / 2;  // the next RMS frame's first sample
  if (frozen_) {
    keep = std::min(keep, (next_frame - spec_.max_sil_kept) * spec_.hop);  // where the next chunk may begin
  } else if (chunk_open_) {
    keep = std::min(keep, next_piece_start());
  } else {
    keep = std::min(keep, chunk_begin_);
  }
  drop_front(hist_, hist_base_, keep);
}

void AutomaticCutter::finish(const Emit& emit) {
  // The frames that reach past the end (zeros there), then the end of the walk.
  const int64_t pad = spec_.win / 2;
  const int64_t total = 1 + (n_ + 2 * pad - spec_.win) / spec_.hop;
  // The hops those frames need that are not in yet (all of them after frames given by the
  // GPU), the last one cut at the end.
  const int64_t first_needed = std::max<int64_t>(int64_t(rms_.size()) - 2, 0);
  if (hops_end() < first_needed) {
    hops_.clear();
    hops_base_ = first_needed;
  }
  const double* x = hist_.data() - hist_base_;
  for (int64_t k = hops_end(); k * spec_.hop < n_; ++k) {
    hops_.push_back(kernels::hop_squares(x, k * spec_.hop, std::min((k + 1) * spec_.hop, n_)));
  }
  while (int64_t(rms_.size()) < total) {
    const int64_t t = int64_t(rms_.size());
    rms_.push_back(frame_from_hops(t));
    walk_frame(t, emit);
  }
  // The reference compares the sample count with a frame count here: a tiny file is one chunk.
  if (n_ <= spec_.min_length) {
    chunk_begin_ = 0;
    piece_index_ = 0;
    idx1_ = 0;
    frozen_ = false;
    emit_pieces(n_, emit);
    return;
  }
  std::pair<int64_t, int64_t> last;
  if (silence_start_ >= 0 && final_silence_tag(rms_, silence_start_, spec_, &last)) add_tag(last.first, last.second, emit);
  if (!have_tag_ || last_tag_end_ < total) emit_pieces(std::min(n_, total * spec_.hop), emit);
}

}  // namespace voxprep
