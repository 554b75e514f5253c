// The host device: the batched path's launches as loops over the thread index, on the CPU.
// It is what `--device emulate` runs, so that the GPU path's orchestration (chunking,
// offsets, batching, the block-parallel high-pass) is tested where there is no GPU.
#include <cstdlib>
#include <cstring>
#include <new>

#include "cuda/device.h"
#include "cuda/runtime.h"

namespace voxprep {
namespace {

class HostDevice final : public Device {
 public:
  explicit HostDevice(GpuCounters* counters) : counters_(counters) {}
  ~HostDevice() override {
    pool_.clear([](void* p) { std::free(p); });
  }

  void* acquire(size_t bytes) override { return take(bytes); }
  void release(void* p, size_t) override { pool_.give(p); }
  void* acquire_host(size_t bytes) override { return take(bytes); }
  void release_host(void* p, size_t) override { pool_.give(p); }

  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void synchronize() override {}

  void resample(const batch::ResampleLaunch& p) override {
    count();
    for (long long i = 0; i < p.total_out; ++i) batch::resample_at(p, i);
  }
  void normalize(const batch::NormalizeLaunch& p) override {
    count();
    for (long long i = 0; i < p.total; ++i) batch::normalize_at(p, i);
  }
  void rms_frames(const batch::RmsLaunch& p) override {
    count();
    for (long long f = 0; f < p.frames; ++f) batch::rms_frame_at(p, f);
  }
  void biquad_blocks(const kernels::Biquad& s, const double* transition, double* x, long long n, long long len,
                     double* ends, double* starts, double* state) override {
    count();
    const long long blocks = (n + len - 1) / len;
    for (long long b = 0; b < blocks; ++b) kernels::biquad_block_end_state(s, x, n, len, b, ends);
    kernels::biquad_carry(transition, ends, blocks, state, starts);
    for (long long b = 0; b < blocks; ++b) kernels::biquad_block_run(s, x, n, len, b, starts, state);
  }

 private:
  void* take(size_t bytes) {
    return pool_.take(bytes, [](size_t size) {
      void* p = std::malloc(size);
      if (!p) throw std::bad_alloc();
      return p;
    });
  }
  void spectral_gate(const batch::GateLaunch& p) override {
    count();
    double re[batch::kGateFft], im[batch::kGateFft];
    auto transform = [&](double sign) {
      for (int half = 1; half < batch::kGateFft; half *= 2) {
        for (int b = 0; b < batch::kGateButterflies; ++b) batch::fft_butterfly(re, im, p.tw_re, p.tw_im, half, b, sign);
      }
    };
    for (long long t = 0; t < p.frames; ++t) {
      for (int i = 0; i < batch::kGateFft; ++i) batch::stft_load(p, t, i, re, im);
      transform(-1);
      for (int k = 0; k < batch::kGateBins; ++k) batch::stft_store(p, t, k, re, im);
    }
    for (int k = 0; k < batch::kGateBins; ++k) batch::floor_and_mask_bin(p, k);
    for (long long t = p.t_lo; t <= p.t_hi; ++t) {
      for (int k = 0; k < batch::kGateBins; ++k) batch::smooth_time_at(p, t, k);
    }
    for (long long t = p.t_lo; t <= p.t_hi; ++t) {
      for (int k = 0; k < batch::kGateBins; ++k) batch::gain_and_load_inverse(p, t, k, re, im);
      transform(+1);
      for (int i = 0; i < batch::kGateFft; ++i) batch::inverse_store(p, t, i, re);
    }
    for (long long i = 0; i < p.count; ++i) batch::overlap_add_at(p, i);
  }
  void count_segment_batch() override {
    if (counters_) ++counters_->segment_batches;
  }
  void count() {
    if (counters_) ++counters_->emulated_launches;
  }
  GpuCounters* counters_;
  BlockPool pool_;
};

}  // namespace

std::unique_ptr<Device> make_host_device(GpuCounters* counters) { return std::make_unique<HostDevice>(counters); }

}  // namespace voxprep
