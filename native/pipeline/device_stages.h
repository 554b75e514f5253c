// The pipeline's stages on a Device (the GPU, or the host device that emulates it): the
// same results as the CPU stages (resampler and sections bit for bit in their arithmetic;
// the block-parallel high-pass to float64 rounding), in large chunks and batches so that
// each launch has work for thousands of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "dsp/denoise.h"
#include "dsp/highpass.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"

namespace voxprep {

// Streaming resample → high-pass (optional) → the slicer's RMS frames (optional), as
// Resampler + Highpass do it on the CPU: push() blocks, then finish().
class DeviceSignalStage {
 public:
  struct Options {
    bool highpass = false;
    bool frames = false;              // also compute the slicer's RMS frames of the output
    int64_t chunk_input = 1 << 20;    // input samples gathered before a run
    int64_t block = 512;              // the high-pass's block length
  };
  DeviceSignalStage(Device& device, int rate_in, int rate_out, const Options& options);

  // Appends the output that the input so far determines, and (with frames) every RMS frame
  // that lies wholly within the output so far. `Out`: std::vector<double> or SampleBuffer.
  template <class Out>
  void push(const double* in, size_t n, Out& out, std::vector<double>* frames);
  template <class Out>
  void finish(Out& out, std::vector<double>* frames);
  void reset();
  // Set when the rate pair has no tabulated design and is resampled on the CPU instead.
  const std::string& note() const { return note_; }

 private:
  template <class Out>
  void run(bool last, Out& out, std::vector<double>* frames);

  Device& device_;
  int rate_in_, rate_out_;
  Options options_;
  std::shared_ptr<const ResamplerDesign> design_;  // null: same rate, no resampling
  std::optional<Resampler> host_resampler_;       // rate pairs with no table
  std::optional<HighpassDesign> highpass_;
  std::vector<std::array<double, 4>> transitions_;
  SlicerSpec slicer_;
  std::string note_;

  // Host-side input (as the CPU resampler keeps it): samples from buf_base_ on.
  std::vector<double> buf_;
  int64_t buf_base_ = 0, n_in_ = 0, n_out_ = 0, frames_done_ = 0, pending_ = 0;
  bool finished_ = false;

  DeviceArray<double> table_, in_, sig_[2], ends_, starts_, state_, frames_dev_;
  DeviceArray<batch::ResampleItem> item_;
  DeviceArray<double> host_out_, host_frames_;  // pinned
  int current_ = 0;         // which sig_ holds the history
  int64_t history_ = 0;     // output samples kept at the front of sig_[current_] for frames
};

// Many whole segments at once, of one file or many: optional post normalization (each by its
// own peak), then each resampled to 16 kHz on its own (zero history, zero future, the
// reference's length rule), in one launch per batch. done() receives each segment,
// normalized, with its 16 kHz twin and the tag it was added with, in the order they were
// added.
class DeviceSegmentBatch {
 public:
  using Done = std::function<void(void* tag, const std::string& name, const double* x, size_t n,
                                  const double* at16k, size_t n16)>;
  // A batch that failed (a device error): called for each segment it held, before flush()
  // throws; must not throw.
  using Failed = std::function<void(void* tag, const std::string& error)>;
  DeviceSegmentBatch(Device& device, int rate, int rate16k, Done done, Failed failed);
  // peak > 0: normalize by it first. Runs the batch when it holds kBatchSamples.
  void add(void* tag, const std::string& name, const double* x, size_t n, double peak);
  // Runs every waiting segment. The batch is empty afterwards, also when it throws (then
  // `failed` has been told of each segment it held: none of them is left to come back later).
  void flush();
  // Forgets the waiting segments added with `tag` (their file failed).
  void drop(void* tag);
  size_t staged() const { return staged_.size(); }
  static constexpr size_t kBatchSamples = size_t(1) << 21;

 private:
  struct Item {
    void* tag;
    std::string name;
    size_t offset, n;  // the segment within staged_ (after its lead zeros)
    double peak;
  };
  void run(const std::vector<Item>& queued, const std::vector<double>& samples);
  Device& device_;
  int rate_, rate16k_;
  Done done_;
  Failed failed_;
  std::shared_ptr<const ResamplerDesign> design_;  // null: same rate
  bool host_resample_ = false;                     // no table for this pair: the CPU resamples
  std::vector<Item> items_;
  std::vector<double> staged_;
  DeviceArray<double> table_, in_, out_, host_in_, host_out_;
  DeviceArray<batch::ResampleItem> resample_items_;
  DeviceArray<batch::NormalizeItem> norm_items_;
  DeviceArray<long long> norm_starts_;
};

// The noise reduction's window on a device: Denoiser's gate there (it keeps the window
// layout and streaming; this runs each window).
class DeviceSpectralGate final : public WindowGate {
 public:
  DeviceSpectralGate(Device& device, const DenoiseDesign& design);
  void run(const double* x, int64_t len, int64_t from, int64_t count, double* out) override;
  // Denoiser's MakeGate for this device.
  static Denoiser::MakeGate on(Device& device);

 private:
  Device& device_;
  const DenoiseDesign& d_;
  int stride_;
  DeviceArray<double> consts_, x_, re_, im_, level_, smooth_, frames_, out_, host_out_;
};

}  // namespace voxprep
