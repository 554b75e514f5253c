// One file through the whole pipeline: decode → mono → resample → high-pass → normalize
// (pre) → denoise → cut → normalize (post) → write at the target rate and at 16 kHz.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dsp/segmenter.h"

namespace voxprep {

enum class Normalization { kNone, kPre, kPost };

struct PipelineOptions {
  int sample_rate = 40000;
  CutMode cut = CutMode::kAutomatic;
  bool highpass = true;
  Normalization normalization = Normalization::kNone;
  double chunk_seconds = 3.0;
  double overlap_seconds = 0.3;
  // Noise reduction strength (reference-pipeline.md §6): 0 for none, else 0 < p ≤ 1.
  double denoise = 0;
  std::string out_dir;
  // Where the caller asks a run to stop (read atomically; may be null): kRun, or kDrain to
  // start no new file but finish those in flight, or kAbandon to drop those too.
  const int32_t* stop = nullptr;
};

constexpr int32_t kRun = 0, kDrain = 1, kAbandon = 2;
inline int32_t stop_level(const PipelineOptions& o) { return o.stop ? __atomic_load_n(o.stop, __ATOMIC_RELAXED) : kRun; }

struct FileJob {
  std::string path;
  int64_t sid = 0, idx0 = 0;
  // Empty: `path` is a WAV file read directly. Otherwise the command of a decoder process
  // that writes the file's audio as a WAV stream on its standard output.
  std::vector<std::string> decoder;
};

enum class FileStatus { kOk, kFailed, kRejected, kSkipped };

// Seconds of thread time each stage took for one file (for the benchmark's breakdown).
struct StageTimes {
  double decode = 0;       // reading and decoding, mixing to mono
  double resample = 0;     // to the target rate
  double highpass = 0;
  double denoise = 0;      // noise reduction
  double analysis = 0;     // RMS frames, peaks, the slicer
  double resample16k = 0;  // each segment to 16 kHz
  double write = 0;        // normalizing, converting and writing segments
};

struct FileResult {
  FileStatus status = FileStatus::kFailed;
  std::string error;           // why it failed or was rejected
  bool write_error = false;    // it failed writing its outputs (see WriteError)
  bool loaded = false;         // decoded and resampled in full: counts into the dataset total
  int64_t samples = 0;         // at the target rate, after resampling
  double seconds = 0;          // samples / sample_rate
  int input_rate = 0, input_channels = 0, input_bits = 0;
  bool input_float = false;
  int64_t input_frames = 0;
  double peak = 0;             // after high-pass, before normalization
  double rms = 0;              // RMS over the whole file, same point
  double silence_share = 0;    // share of 15 ms hops below the slicer's threshold
  int64_t clipped_frames = 0;  // input frames with a channel at full scale
  int64_t slices = 0;          // segments written (each in both folders)
  std::vector<std::string> slice_names;  // their file names, in idx1 order
  std::vector<std::string> warnings;
  StageTimes times;
};

class Device;

// Runs one file, on `device` (the worker's GPU or host device: resampling, high-pass, RMS
// frames, post normalization and the 16 kHz outputs run there) or, when null, on the CPU.
// Never throws: errors come back in the result, and whatever the file had already written
// is removed.
FileResult process_file(const FileJob& job, const PipelineOptions& options, Device* device = nullptr);

}  // namespace voxprep
