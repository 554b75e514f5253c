// Noise reduction as the reference runs it (reference-pipeline.md §6): non-stationary
// spectral gating with the noisereduce package's (version 3) defaults. Per window of the
// signal: STFT; a noise floor per frequency bin by a zero-phase first-order low-pass along
// time; a sigmoid mask of how far each bin stands above its floor; the mask smoothed over
// frequency and time, scaled to the strength; inverse STFT. All in float64.
//
// The design (window, coefficients, smoothing taps, FFT plan) is computed once per stage;
// SpectralGate runs one window; Denoiser streams a whole signal through the reference's
// window layout with bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dsp/aligned.h"
#include "dsp/fft.h"

namespace voxprep {

struct DenoiseSpec {
  static constexpr int kFftSize = 1024;            // n_fft = win_length
  static constexpr int kHop = 256;
  static constexpr int kExtension = kFftSize / 2;  // zeros added on each side before framing
  static constexpr double kTimeConstantSeconds = 2.0;
  static constexpr double kFreqSmoothHz = 500.0;
  static constexpr double kTimeSmoothMs = 50.0;
  static constexpr double kThresholdMultiple = 2.0;
  static constexpr double kSigmoidSlope = 10.0;
  // Window layout: window k covers [kChunk·k − kPadding, kChunk·(k+1) + kPadding) and
  // contributes [kChunk·k, kChunk·(k+1)); a signal of at most kChunk samples is one window.
  static constexpr int64_t kChunk = 600000;
  static constexpr int64_t kPadding = 30000;
};

struct DenoiseDesign {
  int sample_rate = 0;
  double strength = 0;                   // p: 0 < p ≤ 1
  std::vector<double> analysis_window;   // periodic Hann / sum(Hann): each frame's scaling
  std::vector<double> synthesis_window;  // periodic Hann · sum(Hann): undoes that scaling
  std::vector<double> overlap_norm;      // Σ Hann² over the frames covering a sample, by sample mod hop
  double floor_b = 0;                    // the noise floor's low-pass coefficient
  int freq_half = 0, time_half = 0;      // g_f bins and g_t frames
  std::vector<double> freq_taps;         // 2·g_f + 1 triangle values, summing to 1
  std::vector<double> time_taps;         // 2·g_t + 1, summing to 1 (their outer product sums to 1)

  static DenoiseDesign make(int sample_rate, double strength);
};

// What denoises one window: the CPU's SpectralGate, or the GPU's (pipeline/device_stages.h).
class WindowGate {
 public:
  virtual ~WindowGate() = default;
  // Denoises x[0, len) as one chunk and writes samples [from, from + count) of the result to
  // `out`. The span must keep at least kFftSize samples away from both ends of the chunk
  // (the reference's padding always does), where every sample has all its frames.
  virtual void run(const double* x, int64_t len, int64_t from, int64_t count, double* out) = 0;
};

// The frames a window's span needs (shared by both gates).
struct GateFrames {
  int64_t frames;        // of the chunk extended by kExtension zeros on each side
  int64_t t_lo, t_hi;    // the frames that reach the span
  int64_t m_lo, m_hi;    // and those their smoothed mask reaches
  static GateFrames of(const DenoiseDesign& d, int64_t len, int64_t from, int64_t count);
};

// One window on the CPU.
class SpectralGate final : public WindowGate {
 public:
  // Frames per block of the backward pass (see level_block_): 32 frames' rows, about 0.5 MB
  // with their spectra, stay in a second-level cache.
  static constexpr int kBlockFrames = 32;
  explicit SpectralGate(const DenoiseDesign& design);
  void run(const double* x, int64_t len, int64_t from, int64_t count, double* out) override;

 private:
  void frame_spectrum(const double* x, int64_t len, int64_t t, double* re, double* im);

  const DenoiseDesign& d_;
  RealFft fft_;
  int bins_ = 0;
  size_t stride_ = 0;  // row length of the frame-by-bin arrays (the STFT, the forward-smoothed |S|, the mask)
  AlignedVector<double> frame_, padded_row_, gain_, spec_re_, spec_im_, floor_prev_;
  // The time smoothing's running sums (see slide_time_boxes in denoise.cc): g_t + 1 box rows,
  // their sum, and a row of zeros for the frames outside the chunk.
  AlignedVector<double> box_rows_, box_sum_, zero_row_;
  // The mask's rows that the time smoothing still reads (2·g_t + 2: an output frame's
  // neighbours and the row its box sums drop), by frame mod their count.
  AlignedVector<double> mask_rows_;
  // The forward-smoothed magnitudes are kept whole only after m_hi (the backward pass's
  // start); from m_lo on, only at the end of every kBlockFrames frames. The backward pass
  // recomputes a block's magnitudes and levels from its stored start as it reaches the block,
  // with the same operations (so the same bits), while the block's spectra come into cache:
  // a window then moves two thirds of the memory it did, and memory was what it waited for.
  AlignedVector<double> level_block_, magnitude_block_, level_roll_;
};

// The whole signal, streamed: push blocks in order, then finish. Output lags input by up to
// one window; it holds one window with its context (kChunk + 2·kPadding samples) at most.
class Denoiser {
 public:
  using MakeGate = std::function<std::unique_ptr<WindowGate>(const DenoiseDesign&)>;
  // `make_gate`: what runs each window (default: the CPU's SpectralGate).
  Denoiser(int sample_rate, double strength, const MakeGate& make_gate = nullptr);
  Denoiser(const Denoiser&) = delete;
  Denoiser& operator=(const Denoiser&) = delete;
  // Receives samples that became final, in order, straight from the window they were
  // computed in (valid for the call only).
  using Sink = std::function<void(const double* y, size_t n)>;
  // Hands `sink` whatever samples became final.
  void push(const double* x, size_t n, const Sink& sink);
  // Hands on the rest; the total handed on equals the total pushed.
  void finish(const Sink& sink);
  // The same, appending to `out`.
  void push(const double* x, size_t n, std::vector<double>& out);
  void finish(std::vector<double>& out);
  void reset();
  size_t held() const { return buf_.size(); }

 private:
  void run_window(int64_t count, const Sink& sink);

  DenoiseDesign design_;
  std::unique_ptr<WindowGate> gate_;
  // The next window's chunk so far, from its first sample (zeros before the signal's start).
  std::vector<double> buf_;
  // The window's span as the gate writes it (every sample), handed to the sink from here:
  // no output vector to zero and fill on the way.
  std::vector<double> span_;
  int64_t pushed_ = 0;
  int64_t window_ = 0;  // k of the next window
};

}  // namespace voxprep
