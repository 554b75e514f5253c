// Automatic cut mode in one streaming pass: the silence slicer and the fixed 3 s / 0.3 s
// pieces, with the same results as slice_chunks() followed by SegmentPlan::automatic(), but
// taking the signal block by block and handing out each segment as soon as it is certain.
//
// Why this is possible with bounded memory: a chunk ends at the start of the next silence
// tag, which is never before the start of the silence run that will produce it, so pieces
// that end well before an open run (or before the frames walked so far) are final. And
// while one long silence run stays open, the current chunk can only end within max_sil_kept
// frames of its start, and the next chunk can only begin within max_sil_kept frames of the
// run's end: the samples in between are never needed, and are dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dsp/segmenter.h"
#include "dsp/slicer.h"
#include "dsp/stream_buffer.h"

namespace voxprep {

// kHopGroup consecutive hops' sums of squares (`hop` samples each, from x[lo] on):
// kernels::hop_squares()'s bits for each (its sum in index order), four hops to a vector. The
// slicer's CPU loop: each RMS frame is then four hops' sums added (kernels::frame_rms_at).
constexpr int kHopGroup = 8;
void hop_squares_group(const double* x, long long lo, long long hop, double* out);

class AutomaticCutter {
 public:
  // Receives each segment with its samples (segment.end − segment.begin of them).
  using Emit = std::function<void(const Segment&, const double*)>;

  explicit AutomaticCutter(int sample_rate);
  ~AutomaticCutter();  // its sample buffers go back to the thread's spares
  AutomaticCutter(const AutomaticCutter&) = delete;
  AutomaticCutter& operator=(const AutomaticCutter&) = delete;
  // `frames`, when given, holds the RMS frames this block completes, computed elsewhere
  // (on the GPU) with the same function; otherwise they are computed here.
  void push(const double* x, size_t n, const Emit& emit, const std::vector<double>* frames = nullptr);
  // The same without a copy: append the next samples to input() (where the cutter keeps
  // what it still needs, so the stage before can write them straight there and work on them
  // in place), then say how many with took(). Nothing else may change input().
  SampleBuffer& input() { return hist_; }
  void took(size_t n, const Emit& emit, const std::vector<double>* frames = nullptr);
  void finish(const Emit& emit);
  // Samples currently held (for tests of the memory bound).
  size_t held() const { return hist_.size() + frozen_samples_.size(); }
  // The RMS frames so far (for tests: the batch slicer's, bit for bit).
  const std::vector<double>& frames() const { return rms_; }

 private:
  void walk_frame(int64_t i, const Emit& emit);
  // The RMS frame t from the hops' sums of squares (hops before 0 or not held are zeros).
  double frame_from_hops(int64_t t) const;
  int64_t hops_end() const { return hops_base_ + int64_t(hops_.size()); }
  void add_tag(int64_t start, int64_t end, const Emit& emit);
  void emit_pieces(int64_t chunk_end, const Emit& emit);
  void maybe_freeze(int64_t i);
  void trim();
  const double* samples(int64_t begin, int64_t end) const;
  int64_t next_piece_start() const;

  static constexpr size_t kMaxBlock = size_t(1) << 16;  // samples taken in at once (see push)

  SlicerSpec spec_;
  double step_ = 0, longer_than_ = 0;
  int64_t piece_ = 0;

  std::vector<double> rms_;       // every frame so far
  std::vector<double> hops_;      // sums of squares of the hops from hops_base_ on (CPU frames)
  int64_t hops_base_ = 0;
  SampleBuffer hist_ = SpareBuffers<SampleBuffer>::take();  // samples from hist_base_ to n_
  int64_t hist_base_ = 0, n_ = 0;
  bool frozen_ = false;           // a long silence run is open: the chunk's tail is kept aside
  std::vector<double> frozen_samples_ = SpareBuffers<std::vector<double>>::take();
  int64_t frozen_base_ = 0;

  // The slicer's walk.
  int64_t silence_start_ = -1, clip_start_ = 0;
  bool have_tag_ = false;
  int64_t last_tag_end_ = 0;
  // The open chunk and its pieces.
  int64_t chunk_begin_ = 0;  // samples
  int64_t piece_index_ = 0;  // j of the next piece of this chunk
  bool chunk_open_ = true;
  int64_t idx1_ = 0;
};

}  // namespace voxprep
