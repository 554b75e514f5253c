// The reference's silence slicer (automatic cut mode): RMS per frame, then a walk over the
// frames that tags silences and cuts the file into chunks between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace voxprep {

// The slicer's parameters, in the reference's units, and their values in samples / frames
// for one rate (rounded as the reference rounds: half to even).
struct SlicerSpec {
  static constexpr double kThresholdDb = -42.0;
  static constexpr double kMinLengthMs = 1500.0;
  static constexpr double kMinIntervalMs = 400.0;
  static constexpr double kHopMs = 15.0;
  static constexpr double kMaxSilKeptMs = 500.0;

  int64_t hop = 0, win = 0;                            // samples
  int64_t min_length = 0, min_interval = 0, max_sil_kept = 0;  // frames
  double threshold = 0;                                // linear RMS
  static SlicerSpec for_rate(int sample_rate);
};

// Streaming RMS framing: frame t covers samples [t·hop − win/2, t·hop − win/2 + win) of
// the signal, zero outside it; 1 + (n + 2·(win/2) − win) / hop frames in all.
class RmsFramer {
 public:
  explicit RmsFramer(const SlicerSpec& spec) : spec_(spec) {}
  void push(const double* x, size_t n);
  void finish();  // zeros after the end; completes the frame list
  const std::vector<double>& frames() const { return rms_; }
  int64_t samples() const { return n_; }

 private:
  void compute_ready(int64_t available_to);
  SlicerSpec spec_;
  std::vector<double> buf_;  // samples from base_ on
  int64_t base_ = 0;
  int64_t n_ = 0;
  bool finished_ = false;
  std::vector<double> rms_;
};

// The walk's rules, shared by the batch slicer below and the streaming AutomaticCutter.
// Index of the first minimum of rms over the inclusive frame range [from, to].
int64_t rms_argmin(const std::vector<double>& rms, int64_t from, int64_t to);
// Whether a silence run that began at frame s and is closed by loud frame i makes a cut.
bool run_makes_cut(int64_t s, int64_t i, int64_t clip_start, const SlicerSpec& spec);
// The silence tag (start, end) in frames for such a run: the chunk before it ends at start,
// the next one begins at end (the walk's new clip_start).
std::pair<int64_t, int64_t> silence_tag(const std::vector<double>& rms, int64_t s, int64_t i, const SlicerSpec& spec);
// The tag for a run still open when the frames end, if it makes one (T frames in all).
bool final_silence_tag(const std::vector<double>& rms, int64_t s, const SlicerSpec& spec, std::pair<int64_t, int64_t>* tag);

// Chunks as sample ranges [begin, end), from the RMS frames of a signal of n samples.
std::vector<std::pair<int64_t, int64_t>> slice_chunks(const std::vector<double>& rms, int64_t n,
                                                      const SlicerSpec& spec);

}  // namespace voxprep
