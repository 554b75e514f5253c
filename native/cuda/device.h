// A compute device for the batched path: the GPU (cuda/kernels.cu) or the host device that
// runs the same per-thread functions in loops (cuda/host_device.cc). One per worker thread,
// kept across files, so its memory is reused: arrays come from a pool that grows to the
// largest size asked for and is never given back while the worker lives.
#pragma once

#include <cstddef>
#include <map>
#include <memory>

#include "cuda/batch.h"
#include "cuda/denoise_batch.h"

namespace voxprep {

class Device {
 public:
  virtual ~Device() = default;

  // Device memory and pinned host memory, from this device's pools.
  virtual void* acquire(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) = 0;
  virtual void* acquire_host(size_t bytes) = 0;
  virtual void release_host(void* p, size_t bytes) = 0;

  // Copies, in order with the launches (asynchronous on the GPU: synchronize() before the
  // host reads what a download wrote or reuses what an upload read).
  virtual void upload(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual void copy(void* device_dst, const void* device_src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // Launches: one thread per output sample / sample / frame / block.
  virtual void resample(const batch::ResampleLaunch& p) = 0;
  virtual void normalize(const batch::NormalizeLaunch& p) = 0;
  virtual void rms_frames(const batch::RmsLaunch& p) = 0;
  // The three phases of dsp/block_iir.h for one section over x[0, n) in blocks of len;
  // `state` (device, two values) is the state before x on entry and after it on return.
  virtual void biquad_blocks(const kernels::Biquad& s, const double* transition, double* x, long long n,
                             long long len, double* ends, double* starts, double* state) = 0;
  // The noise reduction of one window (cuda/denoise_batch.h): the STFT (a transform per
  // frame), the noise floor and mask (a thread per bin), the smoothing, the inverse
  // transforms and the overlap-add (a thread per output sample).
  virtual void spectral_gate(const batch::GateLaunch& p) = 0;
  // Counts a batch of segments' 16 kHz outputs (for the engine's counters).
  virtual void count_segment_batch() = 0;
};

// A typed array in device (or pinned host) memory that goes back to its pool when dropped.
template <typename T>
class DeviceArray {
 public:
  DeviceArray(Device& d, bool host) : device_(&d), host_(host) {}
  ~DeviceArray() { reset(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  // At least `count` elements; the contents are kept only if nothing had to grow.
  T* ensure(size_t count) {
    if (count * sizeof(T) > bytes_) {
      reset();
      bytes_ = count * sizeof(T);
      data_ = static_cast<T*>(host_ ? device_->acquire_host(bytes_) : device_->acquire(bytes_));
    }
    return data_;
  }
  T* data() const { return data_; }
  size_t capacity() const { return bytes_ / sizeof(T); }
  void reset() {
    if (data_) host_ ? device_->release_host(data_, bytes_) : device_->release(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
  }

 private:
  Device* device_;
  bool host_;
  T* data_ = nullptr;
  size_t bytes_ = 0;
};

// The free lists both devices keep: blocks by size, the smallest that fits is reused.
class BlockPool {
 public:
  template <typename Allocate>
  void* take(size_t bytes, Allocate allocate) {
    auto it = free_.lower_bound(bytes);
    if (it != free_.end()) {
      void* p = it->second;
      sizes_[p] = it->first;
      free_.erase(it);
      return p;
    }
    // Round up so that slowly growing requests reuse blocks.
    size_t size = 4096;
    while (size < bytes) size *= 2;
    void* p = allocate(size);
    sizes_[p] = size;
    return p;
  }
  void give(void* p) {
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    free_.emplace(it->second, p);
    sizes_.erase(it);
  }
  template <typename Free>
  void clear(Free free_block) {
    for (auto& [size, p] : free_) free_block(p);
    for (auto& [p, size] : sizes_) free_block(p);
    free_.clear();
    sizes_.clear();
  }

 private:
  std::multimap<size_t, void*> free_;
  std::map<void*, size_t> sizes_;  // blocks in use, with their real size
};

struct GpuCounters;
// The host device: runs the GPU's per-thread functions in plain loops (counting its launches
// in `counters` when given).
std::unique_ptr<Device> make_host_device(GpuCounters* counters = nullptr);

}  // namespace voxprep
