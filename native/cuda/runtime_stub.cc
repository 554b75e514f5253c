// The CUDA runtime when the build found no nvcc: no kernels, no devices.
#include <stdexcept>

#include "cuda/runtime.h"

namespace voxprep {
namespace cuda {

bool compiled() { return false; }
std::vector<std::string> architectures() { return {}; }
Probe probe() {
  Probe p;
  p.error = "this build has no CUDA kernels (nvcc was not found when it was built)";
  return p;
}
bool activate(int, std::string* error) {
  *error = "this build has no CUDA kernels";
  return false;
}
std::unique_ptr<Device> make_device(int, GpuCounters*) { throw std::logic_error("this build has no CUDA kernels"); }

}  // namespace cuda
}  // namespace voxprep
