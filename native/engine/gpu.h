// The engine's side of the GPU: which device a run uses, CUDA's one initialization per
// process, the fork guard, each worker's device, and the counters tests and doctor read.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda/runtime.h"

namespace voxprep {

enum class Backend { kCpu, kCuda, kEmulate };

// What the caller asked for: auto, cpu, cuda, cuda:N, or emulate (the GPU path's batched
// code run on the CPU by the host device: for tests).
struct DeviceRequest {
  enum Kind { kAuto, kCpu, kCuda, kEmulate } kind = kAuto;
  int index = -1;  // cuda:N; -1 for the first device
  static DeviceRequest parse(const std::string& text);  // throws std::invalid_argument
};

struct DeviceChoice {
  Backend backend = Backend::kCpu;
  int index = -1;        // the CUDA device, for kCuda
  std::string name;      // "cpu", "cuda:0 NVIDIA H100 80GB HBM3", "emulate"
  std::string reason;    // why this one (for auto: what was found)
  // Tests only: each worker's device for this run, made afresh (a device that fails on
  // demand, for the engine's error paths). Empty everywhere else.
  std::function<std::unique_ptr<Device>()> make;
};

// `cuda` (or cuda:N) asked for when no usable GPU is there.
struct DeviceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Resolves a request; initializes CUDA (once) when the request may use it.
DeviceChoice choose_device(const DeviceRequest& request);

struct GpuStatus {
  bool compiled = false;
  std::vector<std::string> architectures;
  int init_attempts = 0;     // times the engine's once-only initialization ran (≤ 1)
  int initializations = 0;   // of those, how many brought up a device (0 or 1)
  std::string init_thread;   // the thread that ran it
  bool forked_child = false; // this process is a fork of one that loaded the engine
  bool probed = false;
  cuda::Probe probe;         // what the driver said (when probed)
  std::string unusable;      // why the GPU cannot be used, if it cannot
  int active_device = -1;    // the device brought up, if any
};
// The state so far; with `initialize`, runs the once-only initialization first.
GpuStatus gpu_status(bool initialize);
GpuCounters& gpu_counters();

// The calling worker thread's device for this choice (created on first use, kept for the
// thread's life so its memory is reused); null for the CPU backend.
Device* worker_device(const DeviceChoice& choice);

// Installs the fork guard (idempotent). Called when the engine is first created.
void install_fork_guard(void (*engine_child_handler)());

}  // namespace voxprep
