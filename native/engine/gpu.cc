#include "engine/gpu.h"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

namespace voxprep {
namespace {

struct State {
  std::mutex mutex;
  GpuStatus status;
};
State& state() {
  static State* s = new State();  // leaked: read from static destructors and forked children
  return *s;
}
std::once_flag& init_once() {
  static std::once_flag* once = new std::once_flag();
  return *once;
}

// Set in a forked child before it runs anything: CUDA cannot be used after fork() in a
// process that may have initialized it, and is not tried there.
std::atomic<bool> forked_child{false};
std::atomic<bool> fork_warning_given{false};
void (*engine_after_fork)() = nullptr;

void on_fork_child() {
  forked_child = true;
  if (engine_after_fork) engine_after_fork();
}

std::string this_thread_name() {
  std::ostringstream s;
  s << std::this_thread::get_id();
  return s.str();
}

constexpr const char* kForkReason =
    "this process is a fork() of one that loaded voxprep's engine; CUDA cannot be used in a forked child, "
    "so it runs on the CPU";

// The once-only initialization: ask the driver for devices and bring up the first one.
void initialize_cuda(int index) {
  std::call_once(init_once(), [index] {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    GpuStatus& g = s.status;
    ++g.init_attempts;
    g.init_thread = this_thread_name();
    if (!cuda::compiled()) {
      g.unusable = "this build of voxprep has no CUDA kernels (nvcc was not found when it was built)";
      return;
    }
    g.probe = cuda::probe();
    g.probed = true;
    if (!g.probe.ok) {
      const std::string code = g.probe.error.substr(0, g.probe.error.find(':'));
      const auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
      if (g.probe.driver_version == 0) {
        g.unusable = "no NVIDIA driver found (" + code + ")";
      } else if (g.probe.driver_version < g.probe.runtime_version) {
        g.unusable = "the NVIDIA driver supports CUDA " + version(g.probe.driver_version) + ", older than this build's CUDA " +
                     version(g.probe.runtime_version) + " runtime: update the driver (" + code + ")";
      } else {
        g.unusable = "no usable CUDA device: " + g.probe.error;
      }
      return;
    }
    const int want = index < 0 ? 0 : index;
    if (want >= int(g.probe.devices.size())) {
      g.unusable = "there is no CUDA device " + std::to_string(want) + " (found " +
                   std::to_string(g.probe.devices.size()) + ")";
      return;
    }
    std::string error;
    if (!cuda::activate(want, &error)) {
      g.unusable = "CUDA device " + std::to_string(want) + " could not be initialized: " + error;
      return;
    }
    ++g.initializations;
    g.active_device = want;
  });
}

}  // namespace

DeviceRequest DeviceRequest::parse(const std::string& text) {
  DeviceRequest r;
  if (text == "auto") r.kind = kAuto;
  else if (text == "cpu") r.kind = kCpu;
  else if (text == "emulate") r.kind = kEmulate;
  else if (text == "cuda") r.kind = kCuda;
  else if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() < 9 &&
           text.find_first_not_of("0123456789", 5) == std::string::npos) {
    r.kind = kCuda;
    r.index = std::atoi(text.c_str() + 5);
  } else {
    throw std::invalid_argument("device must be auto, cpu, cuda or cuda:N (got \"" + text + "\")");
  }
  return r;
}

DeviceChoice choose_device(const DeviceRequest& request) {
  DeviceChoice c;
  switch (request.kind) {
    case DeviceRequest::kCpu:
      c.name = "cpu";
      c.reason = "asked for";
      return c;
    case DeviceRequest::kEmulate:
      c.backend = Backend::kEmulate;
      c.name = "emulate";
      c.reason = "the GPU path's batched code, run on the CPU (for tests)";
      return c;
    default:
      break;
  }
  if (forked_child) {
    if (!fork_warning_given.exchange(true)) std::fprintf(stderr, "voxprep: warning: %s\n", kForkReason);
    c.name = "cpu";
    c.reason = kForkReason;
    return c;
  }
  initialize_cuda(request.index);
  const GpuStatus g = gpu_status(false);
  const int want = request.index < 0 ? (g.active_device < 0 ? 0 : g.active_device) : request.index;
  std::string why = g.unusable;
  if (why.empty() && want >= int(g.probe.devices.size())) {
    why = "there is no CUDA device " + std::to_string(want) + " (found " + std::to_string(g.probe.devices.size()) + ")";
  }
  if (why.empty() && want != g.active_device) {
    std::string error;
    if (!cuda::activate(want, &error)) why = "CUDA device " + std::to_string(want) + " could not be initialized: " + error;
  }
  if (!why.empty()) {
    if (request.kind == DeviceRequest::kCuda) {
      throw DeviceUnavailable("--device cuda" + (request.index < 0 ? std::string() : ":" + std::to_string(request.index)) + ": " + why);
    }
    c.name = "cpu";
    c.reason = why;
    return c;
  }
  const cuda::DeviceInfo& d = g.probe.devices[size_t(want)];
  c.backend = Backend::kCuda;
  c.index = want;
  c.name = "cuda:" + std::to_string(want) + " " + d.name;
  c.reason = request.kind == DeviceRequest::kAuto ? "a usable CUDA device was found" : "asked for";
  return c;
}

GpuStatus gpu_status(bool initialize) {
  if (initialize && !forked_child) initialize_cuda(-1);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  GpuStatus g = s.status;
  g.compiled = cuda::compiled();
  g.architectures = cuda::architectures();
  g.forked_child = forked_child;
  if (forked_child) g.unusable = kForkReason;
  return g;
}

GpuCounters& gpu_counters() {
  static GpuCounters* counters = new GpuCounters();
  return *counters;
}

Device* worker_device(const DeviceChoice& choice) {
  struct Slot {
    std::unique_ptr<Device> device;
    Backend backend = Backend::kCpu;
    int index = -1;
  };
  thread_local Slot slot;
  if (choice.backend == Backend::kCpu) return nullptr;
  if (choice.make) {
    // A test's own device, for this run only: the next ordinary request makes its own again.
    slot.device = choice.make();
    slot.backend = Backend::kCpu;
    return slot.device.get();
  }
  if (!slot.device || slot.backend != choice.backend || slot.index != choice.index) {
    slot.device.reset();
    slot.device = choice.backend == Backend::kCuda ? cuda::make_device(choice.index, &gpu_counters())
                                                       : make_host_device(&gpu_counters());
    slot.backend = choice.backend;
    slot.index = choice.index;
  }
  return slot.device.get();
}

void install_fork_guard(void (*engine_child_handler)()) {
  static std::once_flag once;
  std::call_once(once, [engine_child_handler] {
    engine_after_fork = engine_child_handler;
    pthread_atfork(nullptr, nullptr, on_fork_child);
  });
}

}  // namespace voxprep
