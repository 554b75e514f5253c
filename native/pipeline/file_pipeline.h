// One file through the whole pipeline: decode → mono → resample → high-pass → normalize
// (pre) → denoise → cut → normalize (post) → write at the target rate and at 16 kHz.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dsp/segmenter.h"
#include "io/file_hash.h"

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

// Seconds each stage took for one file, as wall time inside its worker (for the benchmark's
// breakdown; on a busy machine it includes time the worker waited for a core).
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
  // Its outputs wait in the worker's OutputBatch: the status is final once the batch has
  // written and published them (OutputBatch::finish).
  bool deferred = false;
  std::string error;           // why it failed or was rejected
  bool write_error = false;    // it failed writing its outputs (see WriteError)
  bool loaded = false;         // decoded and resampled in full: counts into the dataset total
  int64_t samples = 0;         // at the target rate, after resampling
  double seconds = 0;          // samples / sample_rate
  int input_rate = 0, input_channels = 0, input_bits = 0;
  bool input_float = false;
  // How the samples are coded: "pcm", "float", or a WAV's G.711 "mulaw" / "alaw" (8 bits
  // that stand for 14 or 13).
  std::string input_coding = "pcm";
  int64_t input_frames = 0;
  double peak = 0;             // after high-pass, before normalization
  double rms = 0;              // RMS over the whole file, same point
  double silence_share = 0;    // share of 15 ms hops below the slicer's threshold
  int64_t clipped_frames = 0;  // input frames with a channel at full scale
  int64_t slices = 0;          // segments written (each in both folders)
  std::vector<std::string> slice_names;  // their file names, in idx1 order
  // Size and checksum of each output written whole (io/wav_writer.h), by its path under
  // the output folder ("sliced_audios/0_3_1.wav"): the run manifest reads only the others back.
  struct OutputChecksum {
    std::string file;
    FileChecksum checksum;
  };
  std::vector<OutputChecksum> checksums;
  // The input's size and checksum, from the bytes read for processing (empty where the
  // reader did not see the whole file: a decoded format).
  std::optional<FileChecksum> input_checksum;
  // The input's size and modification time as it was opened, before it was read, and once
  // it was read (stat'ed by its path, which a file renamed over it also changes), where
  // input_checksum is known; the manifest records the file only when the two agree.
  std::optional<FileStamp> input_stamp;
  std::optional<FileStamp> input_stamp_after;
  std::vector<std::string> warnings;
  StageTimes times;
};

class Device;
class DeviceSegmentBatch;
class OutputSet;

// The GPU path's segments of several files, made together: each file's segments wait in
// one worker's batch for their 16 kHz twins (one launch for many files' segments), and a
// file's outputs are published together once all of them are written.
class OutputBatch {
 public:
  OutputBatch(Device& device, const PipelineOptions& options);
  ~OutputBatch();
  // Samples waiting; the batch runs by itself when they reach its size.
  size_t staged() const;
  bool empty() const { return files_.empty(); }
  // Runs what waits and publishes every file whose processing has ended, or with `abandon`
  // drops them all as interrupted. Returns the final (job index, result) of each.
  std::vector<std::pair<size_t, FileResult>> finish(bool abandon);

  // For the pipeline: a file's place in the batch.
  struct File;
  File* open(size_t index);
  void add(File* file, const std::string& name, const double* x, size_t n, double peak);
  OutputSet& outputs(File* file);
  void close(File* file, const FileResult& result);  // processing ended well; outputs follow
  void discard(File* file);                          // processing failed: forget its segments

 private:
  void write(File* file, const std::string& name, const double* x, size_t n, const double* at16k, size_t n16);
  const PipelineOptions& options_;
  // The first write failure: the disk will not heal by itself, so the batch writes nothing
  // more after it (those files end as interrupted, to be done again by --resume).
  std::string write_failure_;
  std::unique_ptr<DeviceSegmentBatch> segments_;
  std::vector<std::unique_ptr<File>> files_;
};

// A file processed on the CPU whose outputs may still be being written behind (io/io_thread.h).
// Publishing them as the file ended made its worker wait for its writing thread: with short
// clips, a third of the worker's time. The worker holds the file instead, goes on with the
// next one, and publishes it (publish_held) once the writes have run, or when that next one
// ends.
struct HeldFile {
  size_t index = 0;
  FileResult result;
  std::unique_ptr<OutputSet> outputs;
  HeldFile();
  ~HeldFile();  // unpublished outputs are removed
  HeldFile(HeldFile&&) noexcept;
  HeldFile& operator=(HeldFile&&) noexcept;
  // No write of its outputs is left to run: publishing will not wait.
  bool written() const;
};

// Runs one file, on `device` (the worker's GPU or host device: resampling, high-pass, RMS
// frames, post normalization and the 16 kHz outputs run there) or, when null, on the CPU.
// With `batch` (device only), the file's outputs may wait there (the result says
// `deferred`). With `hold` (CPU only), a file that ends well has its outputs in
// hold->outputs, unpublished (the result says `deferred`; publish_held finishes it).
// Otherwise they are written before this returns. `between_blocks`, if set, is called before
// each block of input is taken. Never throws: errors come back in the result, and whatever the file
// had already written is removed.
FileResult process_file(const FileJob& job, const PipelineOptions& options, Device* device = nullptr,
                        OutputBatch* batch = nullptr, size_t index = 0, HeldFile* hold = nullptr,
                        const std::function<void()>& between_blocks = {});
// Publishes a held file's outputs (waiting for their writes first) and returns its final
// result: failed with the reason (a write error) if they could not be written.
FileResult publish_held(HeldFile& held, const PipelineOptions& options);
// The result of a file processed after one of its worker's files could not be written: its
// outputs are dropped (the disk will not heal by itself), for --resume to do it again.
FileResult after_write_failure(const std::string& write_failure);

// The error of a file whose device (or its output batch) failed to set up.
std::string device_setup_error(const std::exception& e);

// Frees what the calling thread kept between files (its idle 16 kHz resamplers and spare
// sample buffers) and the writers' spare float buffers. A worker calls it when its share of a
// batch is done: the buffers save growing them anew for each file, but held on after the run
// they would sit in memory unused (and add to the peak of whatever the process does next).
void release_kept_buffers();
// For tests: the buffers kept between files now, in all threads.
long kept_buffers();


}  // namespace voxprep
