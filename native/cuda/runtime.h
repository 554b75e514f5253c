// The CUDA runtime as the engine sees it. Built from cuda/kernels.cu when nvcc is found,
// else from cuda/runtime_stub.cc, which says that no kernels are compiled in. Only the
// engine calls probe() and activate(), once per process (engine/gpu.cc).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "cuda/device.h"

namespace voxprep {

// What the GPU did, over the life of the process (shown by the engine's counters).
struct GpuCounters {
  std::atomic<long long> bytes_to_device{0}, bytes_from_device{0}, launches{0}, kernel_ns{0};
  std::atomic<long long> emulated_launches{0};  // launches the host device ran on the CPU
  std::atomic<long long> segment_batches{0};    // 16 kHz batches run (each one launch, many segments)
};

namespace cuda {

bool compiled();
std::vector<std::string> architectures();  // e.g. "sm_75", "compute_90" (PTX)

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory = 0;         // bytes
};

struct Probe {
  bool ok = false;           // the runtime answered and found at least one device
  std::string error;         // why not, when !ok
  int driver_version = 0;    // 0: no driver
  int runtime_version = 0;
  std::vector<DeviceInfo> devices;
};

// Asks the driver for devices (initializes the runtime).
Probe probe();
// Creates the device's primary context on the calling thread.
bool activate(int index, std::string* error);
// A device for one worker thread: its own stream and pinned staging memory.
std::unique_ptr<Device> make_device(int index, GpuCounters* counters);

}  // namespace cuda
}  // namespace voxprep
