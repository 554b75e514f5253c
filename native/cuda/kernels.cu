// The GPU device: launch wrappers over cuda/batch.h's per-thread functions, streams, pinned
// staging and the runtime queries. Indexing and memory only: the arithmetic is shared with
// the CPU (dsp/kernels.h) and the host device runs the same per-thread functions.
#include <cuda_runtime.h>

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "cuda/runtime.h"

namespace voxprep {
namespace {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  // Reset the thread's last error (for errors that are not sticky, such as an out-of-memory):
  // left set, the next launch's cudaGetLastError() would report it again, against a launch
  // of another file that went well.
  cudaGetLastError();
  throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

constexpr int kThreads = 256;
unsigned grid_for(long long n) { return unsigned((n + kThreads - 1) / kThreads); }

__global__ void resample_kernel(batch::ResampleLaunch p) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < p.total_out) batch::resample_at(p, i);
}

__global__ void normalize_kernel(batch::NormalizeLaunch p) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < p.total) batch::normalize_at(p, i);
}

__global__ void rms_kernel(batch::RmsLaunch p) {
  const long long f = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (f < p.frames) batch::rms_frame_at(p, f);
}

struct Transition {
  double m[4];
};

__global__ void biquad_end_kernel(kernels::Biquad s, const double* x, long long n, long long len, long long blocks,
                                  double* ends) {
  const long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (b < blocks) kernels::biquad_block_end_state(s, x, n, len, b, ends);
}

// The carry is sequential and cheap (a few thousand blocks): one thread.
__global__ void biquad_carry_kernel(Transition t, const double* ends, long long blocks, const double* state,
                                    double* starts) {
  if (blockIdx.x == 0 && threadIdx.x == 0) kernels::biquad_carry(t.m, ends, blocks, state, starts);
}

__global__ void biquad_run_kernel(kernels::Biquad s, double* x, long long n, long long len, long long blocks,
                                  const double* starts, double* state) {
  const long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (b < blocks) kernels::biquad_block_run(s, x, n, len, b, starts, state);
}

// One block per frame, a thread per butterfly, the frame in shared memory.
__global__ void stft_kernel(batch::GateLaunch p) {
  __shared__ double re[batch::kGateFft], im[batch::kGateFft];
  const long long t = blockIdx.x;
  const int tid = threadIdx.x;
  batch::stft_load(p, t, tid, re, im);
  batch::stft_load(p, t, tid + batch::kGateButterflies, re, im);
  __syncthreads();
  for (int half = 1; half < batch::kGateFft; half *= 2) {
    batch::fft_butterfly(re, im, p.tw_re, p.tw_im, half, tid, -1);
    __syncthreads();
  }
  batch::stft_store(p, t, tid, re, im);
  if (tid == 0) batch::stft_store(p, t, batch::kGateBins - 1, re, im);
}

__global__ void floor_kernel(batch::GateLaunch p) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < batch::kGateBins) batch::floor_and_mask_bin(p, k);
}

__global__ void smooth_time_kernel(batch::GateLaunch p) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long rows = p.t_hi - p.t_lo + 1;
  if (e < rows * batch::kGateBins) batch::smooth_time_at(p, p.t_lo + e / batch::kGateBins, int(e % batch::kGateBins));
}

__global__ void inverse_kernel(batch::GateLaunch p) {
  __shared__ double re[batch::kGateFft], im[batch::kGateFft];
  const long long t = p.t_lo + blockIdx.x;
  const int tid = threadIdx.x;
  batch::gain_and_load_inverse(p, t, tid, re, im);
  if (tid == 0) batch::gain_and_load_inverse(p, t, batch::kGateBins - 1, re, im);
  __syncthreads();
  for (int half = 1; half < batch::kGateFft; half *= 2) {
    batch::fft_butterfly(re, im, p.tw_re, p.tw_im, half, tid, +1);
    __syncthreads();
  }
  batch::inverse_store(p, t, tid, re);
  batch::inverse_store(p, t, tid + batch::kGateButterflies, re);
}

__global__ void overlap_add_kernel(batch::GateLaunch p) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < p.count) batch::overlap_add_at(p, i);
}

class CudaDevice final : public Device {
 public:
  CudaDevice(int index, GpuCounters* counters) : index_(index), counters_(counters) {
    check(cudaSetDevice(index), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~CudaDevice() override {
    // Errors are ignored here: the process may be ending, and nothing can be done.
    cudaStreamSynchronize(stream_);
    for (auto& e : events_) {
      cudaEventDestroy(e.first);
      cudaEventDestroy(e.second);
    }
    pool_.clear([](void* p) { cudaFree(p); });
    host_pool_.clear([](void* p) { cudaFreeHost(p); });
    cudaStreamDestroy(stream_);
  }

  void* acquire(size_t bytes) override {
    return pool_.take(bytes, [](size_t size) {
      void* p = nullptr;
      check(cudaMalloc(&p, size), "cudaMalloc");
      return p;
    });
  }
  void release(void* p, size_t) override { pool_.give(p); }
  void* acquire_host(size_t bytes) override {
    return host_pool_.take(bytes, [](size_t size) {
      void* p = nullptr;
      check(cudaHostAlloc(&p, size, cudaHostAllocDefault), "cudaHostAlloc");
      return p;
    });
  }
  void release_host(void* p, size_t) override {
    // A copy into or out of this block may still be in flight where a run was cut short by
    // an error (the normal paths synchronize before they let go); the next user of the block
    // must not race it. Errors are ignored: the stream's own calls report them.
    cudaStreamSynchronize(stream_);
    host_pool_.give(p);
  }

  void upload(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
    counters_->bytes_to_device += (long long)bytes;
  }
  void download(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    counters_->bytes_from_device += (long long)bytes;
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "device copy");
  }
  void synchronize() override {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    for (size_t i = 0; i < timed_; ++i) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, events_[i].first, events_[i].second) == cudaSuccess) {
        counters_->kernel_ns += (long long)(double(ms) * 1e6);
      }
    }
    timed_ = 0;
  }

  void resample(const batch::ResampleLaunch& p) override {
    if (p.total_out <= 0) return;
    begin_timed();
    resample_kernel<<<grid_for(p.total_out), kThreads, 0, stream_>>>(p);
    end_timed(1);
  }
  void normalize(const batch::NormalizeLaunch& p) override {
    if (p.total <= 0) return;
    begin_timed();
    normalize_kernel<<<grid_for(p.total), kThreads, 0, stream_>>>(p);
    end_timed(1);
  }
  void rms_frames(const batch::RmsLaunch& p) override {
    if (p.frames <= 0) return;
    begin_timed();
    rms_kernel<<<grid_for(p.frames), kThreads, 0, stream_>>>(p);
    end_timed(1);
  }
  void count_segment_batch() override { ++counters_->segment_batches; }
  void spectral_gate(const batch::GateLaunch& p) override {
    if (p.count <= 0) return;
    const long long rows = p.t_hi - p.t_lo + 1;
    begin_timed();
    stft_kernel<<<unsigned(p.frames), batch::kGateButterflies, 0, stream_>>>(p);
    floor_kernel<<<(batch::kGateBins + 127) / 128, 128, 0, stream_>>>(p);
    smooth_time_kernel<<<grid_for(rows * batch::kGateBins), kThreads, 0, stream_>>>(p);
    inverse_kernel<<<unsigned(rows), batch::kGateButterflies, 0, stream_>>>(p);
    overlap_add_kernel<<<grid_for(p.count), kThreads, 0, stream_>>>(p);
    end_timed(5);
  }
  void biquad_blocks(const kernels::Biquad& s, const double* transition, double* x, long long n, long long len,
                     double* ends, double* starts, double* state) override {
    if (n <= 0) return;
    const long long blocks = (n + len - 1) / len;
    Transition t;
    std::memcpy(t.m, transition, sizeof t.m);
    begin_timed();
    biquad_end_kernel<<<grid_for(blocks), kThreads, 0, stream_>>>(s, x, n, len, blocks, ends);
    biquad_carry_kernel<<<1, 1, 0, stream_>>>(t, ends, blocks, state, starts);
    biquad_run_kernel<<<grid_for(blocks), kThreads, 0, stream_>>>(s, x, n, len, blocks, starts, state);
    end_timed(3);
  }

 private:
  // Launches are bracketed with events, read at the next synchronize. Summed over workers'
  // streams, the time is an upper bound on how long the GPU was busy (launches of several
  // streams overlap, and a launch's time includes waiting behind another stream's).
  void begin_timed() {
    if (timed_ == events_.size()) {
      std::pair<cudaEvent_t, cudaEvent_t> e;
      check(cudaEventCreate(&e.first), "cudaEventCreate");
      check(cudaEventCreate(&e.second), "cudaEventCreate");
      events_.push_back(e);
    }
    check(cudaEventRecord(events_[timed_].first, stream_), "cudaEventRecord");
  }
  void end_timed(int launches) {
    check(cudaGetLastError(), "kernel launch");
    check(cudaEventRecord(events_[timed_].second, stream_), "cudaEventRecord");
    ++timed_;
    counters_->launches += launches;
  }

  int index_;
  GpuCounters* counters_;
  cudaStream_t stream_ = nullptr;
  BlockPool pool_, host_pool_;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> events_;
  size_t timed_ = 0;
};

}  // namespace

namespace cuda {

bool compiled() { return true; }

std::vector<std::string> architectures() {
  // VOXPREP_CUDA_ARCHS: CMake's list with commas, e.g. "75,90-real" (a bare number adds its PTX).
  std::vector<std::string> out;
  std::stringstream list(VOXPREP_CUDA_ARCHS);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.empty()) continue;
    const size_t dash = item.find('-');
    const std::string num = item.substr(0, dash);
    const std::string kind = dash == std::string::npos ? "" : item.substr(dash + 1);
    if (kind != "virtual") out.push_back("sm_" + num);
    if (kind != "real") out.push_back("compute_" + num);
  }
  return out;
}

Probe probe() {
  Probe p;
  cudaDriverGetVersion(&p.driver_version);
  cudaRuntimeGetVersion(&p.runtime_version);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    p.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // clear it
    return p;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.memory = prop.totalGlobalMem;
    p.devices.push_back(d);
  }
  p.ok = !p.devices.empty();
  if (!p.ok) p.error = "the driver reports no CUDA device";
  return p;
}

bool activate(int index, std::string* error) {
  cudaError_t e = cudaSetDevice(index);
  if (e == cudaSuccess) e = cudaFree(nullptr);  // creates the primary context now
  if (e != cudaSuccess) {
    *error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();
    return false;
  }
  return true;
}

std::unique_ptr<Device> make_device(int index, GpuCounters* counters) {
  return std::make_unique<CudaDevice>(index, counters);
}

}  // namespace cuda
}  // namespace voxprep
