#include "pipeline/file_pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unistd.h>

#include "dsp/automatic_cut.h"
#include "dsp/denoise.h"
#include "dsp/highpass.h"
#include "dsp/kernels.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"
#include "dsp/vec4.h"
#include "io/io_thread.h"
#include "io/wav_reader.h"
#include "io/wav_writer.h"
#include "pipeline/device_stages.h"
#include "pipeline/output_layout.h"

namespace voxprep {
namespace {

// Frames read (and pushed down the pipeline) at a time: enough that per-call costs vanish,
// few enough that the buffers sized by it stay small in each worker (at 64k frames, the second
// worker of the bench added 17% to the process's memory; at 16k, 11-15%).
constexpr size_t kReadBlockFrames = 1 << 14;
// Frames read ahead at a time, on the worker's reading thread, while the worker processes the
// ones before: a whole number of blocks, so the blocks are cut where they always were. The
// reading thread shares the other core with the writing thread and the kernel's file work:
// reading two blocks at a time, the worker waited for it for 12-17 % of its time on the bench
// corpus; eight (about 1 MB of samples each way) roughly halve that.
constexpr size_t kReadAheadFrames = 8 * kReadBlockFrames;
// A file whose processed signal fits here is kept in memory between the analysis pass and
// the writing pass instead of being decoded again (8 bytes a sample: 32 MiB).
constexpr int64_t kCacheSamples = int64_t{1} << 22;
// Segments up to this length are collected in memory when their own peak is needed
// (post normalization); longer ones are streamed with a peak measured beforehand.
constexpr double kMaxBufferedSegmentSeconds = 30.0;
// The reference's rejection rule for normalization.
constexpr double kMaxNormalizablePeak = 2.5;

// Adds the time until the end of its scope to one stage's total.
class StageTimer {
 public:
  explicit StageTimer(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~StageTimer() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

// Peaks four lanes at a time: one running maximum made every sample wait for the one
// before. A NaN sample is passed over in each lane, as std::max(peak, NaN) does.
inline __attribute__((always_inline)) Vec4 max_magnitude(Vec4 peak, Vec4 v) {
  const Vec4 magnitude = v < 0 ? -v : v;
  return peak < magnitude ? magnitude : peak;
}
inline double lanes_max(Vec4 p) { return std::max(std::max(p[0], p[1]), std::max(p[2], p[3])); }

// max |x[i]|
__attribute__((target_clones("avx2", "default")))
double peak_of(const double* x, size_t n) {
  Vec4 p = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) p = max_magnitude(p, load4(x + i));
  double peak = lanes_max(p);
  for (; i < n; ++i) peak = std::max(peak, std::fabs(x[i]));
  return peak;
}

// Over n samples (a multiple of kLevelLanes), sixteen lanes at a time in four vectors:
// sums[l] += x[k]² for k ≡ l (mod 16), and *peak = max(*peak, |x[k]|). Four vectors, not one:
// with a single one each addition waited for the one before (the whole stage was bound by
// that chain's latency, 2% of a worker's time).
constexpr size_t kLevelLanes = 16;
__attribute__((target_clones("avx2", "default")))
void add_squares_and_peak(const double* x, size_t n, double* sums, double* peak) {
  Vec4 s0 = load4(sums), s1 = load4(sums + 4), s2 = load4(sums + 8), s3 = load4(sums + 12);
  Vec4 p0 = {*peak, *peak, *peak, *peak}, p1 = p0;
  for (size_t k = 0; k < n; k += kLevelLanes) {
    const Vec4 v0 = load4(x + k), v1 = load4(x + k + 4), v2 = load4(x + k + 8), v3 = load4(x + k + 12);
    s0 = s0 + v0 * v0;
    s1 = s1 + v1 * v1;
    s2 = s2 + v2 * v2;
    s3 = s3 + v3 * v3;
    p0 = max_magnitude(max_magnitude(p0, v0), v2);
    p1 = max_magnitude(max_magnitude(p1, v1), v3);
  }
  store4(sums, s0);
  store4(sums + 4, s1);
  store4(sums + 8, s2);
  store4(sums + 12, s3);
  *peak = std::max(lanes_max(p0), lanes_max(p1));
}

// A refused peak as printed: six significant digits, or as many as it takes to show that it
// is above the limit (2.50000024 is not "2.500000").
std::string peak_above_limit(double peak) {
  char text[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, peak);
    if (std::strtod(text, nullptr) > kMaxNormalizablePeak) break;
  }
  return text;
}

// Why a signal with this peak cannot be normalized, or empty if it can.
std::string normalization_refusal(double peak) {
  if (peak == 0) return "silent (peak 0): normalizing would divide by zero";
  if (peak > kMaxNormalizablePeak) return "peak " + peak_above_limit(peak) + " is above 2.5";
  return "";
}

// Thrown when the caller abandons the files in flight.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted: the run was stopped while this file was in flight") {}
};

// decode → mono → resample → high-pass, block by block; replayable from the start. The
// decoding runs ahead on the worker's reading thread (io/io_thread.h).
class SignalSource {
 public:
  // With a device, resampling and the high-pass run there (and, with `frames`, the
  // slicer's RMS frames of the output too).
  // `between_blocks` (if set) runs before each block is taken.
  SignalSource(const FileJob& job, const PipelineOptions& o, StageTimes& times, Device* device, bool frames,
               const std::function<void()>& between_blocks)
      : reader_(job.decoder.empty() ? WavReader(job.path) : WavReader(job.path, job.decoder)),
        times_(times),
        options_(o),
        between_blocks_(between_blocks),
        reading_(IoThread::for_reading()) {
    const int rate_in = reader_.info().sample_rate;
    if (device) {
      DeviceSignalStage::Options so;
      so.highpass = o.highpass;
      so.frames = frames;
      device_stage_.emplace(*device, rate_in, o.sample_rate, so);
    } else {
      resampler_.emplace(rate_in, o.sample_rate);
      if (o.highpass) highpass_.emplace(double(o.sample_rate));
    }
    start_reading();
  }
  // The reading thread may still be in the reader.
  ~SignalSource() {
    settle();
    SpareBuffers<SampleBuffer>::give_back(std::move(ahead_));
    SpareBuffers<SampleBuffer>::give_back(std::move(read_));
  }
  SignalSource(const SignalSource&) = delete;
  SignalSource& operator=(const SignalSource&) = delete;
  // The slicer's RMS frames that the last block completed (device with frames only).
  const std::vector<double>* frames() const { return device_stage_ ? &frames_ : nullptr; }
  std::string device_note() const { return device_stage_ ? device_stage_->note() : ""; }
  const WavInfo& info() const { return reader_.info(); }
  // Complete once next() has returned false.
  const std::vector<std::string>& warnings() const {
    settle();
    return reader_.warnings();
  }
  int64_t clipped_frames() const {
    settle();
    return reader_.clipped_frames();
  }
  // The input file's checksum from the bytes the reading thread went through (once next()
  // has returned false), when it had them all.
  std::optional<FileChecksum> input_checksum() {
    settle();
    return reader_.whole_file_checksum();
  }
  std::optional<FileStamp> input_stamp() const { return reader_.opened_stamp(); }

  // Replaces `block` with the next processed samples; false once the stream has ended.
  bool next(SampleBuffer& block) {
    block.clear();
    return next_into(block);
  }
  // The same, appended to `block` (the high-pass runs on them there).
  bool next_into(SampleBuffer& block) {
    const size_t before = block.size();
    if (done_) return false;
    if (stop_level(options_) >= kAbandon) throw Interrupted();
    if (between_blocks_) between_blocks_();
    size_t got;
    {
      // The time waited for the reading thread.
      StageTimer t(times_.decode);
      got = take_block();
    }
    if (device_stage_) {
      // Resampling and the high-pass together, on the device.
      StageTimer t(times_.resample);
      frames_.clear();
      if (got > 0) {
        device_stage_->push(input_, got, block, &frames_);
      } else {
        device_stage_->finish(block, &frames_);
        done_ = true;
      }
      return true;
    }
    {
      StageTimer t(times_.resample);
      if (got > 0) {
        // The block lies in read_ after the ones taken from it before (read in place there).
        resampler_->push_within(input_, size_t(input_ - read_.data()), got, block);
      } else {
        resampler_->finish(block);
        done_ = true;
      }
    }
    if (highpass_) {
      StageTimer t(times_.highpass);
      highpass_->process(block.data() + before, block.size() - before);
    }
    return true;
  }

  void rewind() {
    settle();
    reader_.rewind();
    start_reading();
    if (resampler_) resampler_->reset();
    if (highpass_) highpass_->reset();
    if (device_stage_) device_stage_->reset();
    done_ = false;
  }

 private:
  // Reads the first frames here, on the worker, and asks the reading thread for the next: the
  // worker has nothing else to do until the first are in, and handing the read over and
  // back took longer than the read (with short clips, the worker waited some 15% of its time).
  // A short read is the end (fread stops short only there), so the end is read here too.
  // What the reads throw is thrown when the frames are taken, as from the reading thread.
  void start_reading() {
    StageTimer t(times_.decode);
    read_at_ = 0;
    read_n_ = 0;
    std::promise<size_t> end;
    try {
      read_n_ = reader_.read_mono(read_.data(), kReadAheadFrames);
      if (read_n_ == kReadAheadFrames) {
        read_ahead();
        return;
      }
      end.set_value(read_n_ == 0 ? 0 : reader_.read_mono(ahead_.data(), kReadAheadFrames));
    } catch (...) {
      read_n_ = 0;
      end.set_exception(std::current_exception());
    }
    pending_ = end.get_future();
  }
  // Asks the reading thread for the frames after those already asked for.
  void read_ahead() {
    auto done = std::make_shared<std::promise<size_t>>();
    pending_ = done->get_future();
    reading_.post(
        [this, done] {
          try {
            done->set_value(reader_.read_mono(ahead_.data(), kReadAheadFrames));
          } catch (...) {
            done->set_exception(std::current_exception());
          }
        },
        0);
  }
  // The next block of at most kReadBlockFrames, from input_ on; 0 at the end. Throws what
  // the reading thread met.
  size_t take_block() {
    if (read_at_ == read_n_) {
      const size_t got = pending_.get();
      std::swap(read_, ahead_);
      read_n_ = got;
      read_at_ = 0;
      if (got == 0) return 0;
      read_ahead();
    }
    const size_t n = std::min(kReadBlockFrames, read_n_ - read_at_);
    input_ = read_.data() + read_at_;
    read_at_ += n;
    return n;
  }
  static SampleBuffer read_buffer() {
    SampleBuffer b = SpareBuffers<SampleBuffer>::take(kReadAheadFrames);
    b.resize(kReadAheadFrames);
    return b;
  }
  // Waits until the reading thread is out of the reader (its result, or error, dropped).
  void settle() const {
    if (pending_.valid()) pending_.wait();
  }

  WavReader reader_;
  std::optional<Resampler> resampler_;
  std::optional<Highpass> highpass_;
  std::optional<DeviceSignalStage> device_stage_;
  std::vector<double> frames_;
  const double* input_ = nullptr;  // the block taken, in read_
  bool done_ = false;
  StageTimes& times_;
  const PipelineOptions& options_;
  const std::function<void()>& between_blocks_;
  IoThread& reading_;
  std::future<size_t> pending_;   // the read in flight (or done and not yet taken)
  // What the read in flight fills, and the frames read before it (read_n_ of them, from
  // read_at_ on not yet taken): left uninitialized, as zeroing them cost the reading thread
  // as much as decoding.
  // (From the thread's spares: see SpareBuffers.)
  SampleBuffer ahead_ = read_buffer();
  SampleBuffer read_ = read_buffer();
  size_t read_n_ = 0;
  size_t read_at_ = 0;
};

// What the first pass learns about the processed signal.
struct Analysis {
  int64_t samples = 0;
  double peak = 0;                         // of the signal before normalization and noise reduction
  // What post normalization divides by, measured on what it normalizes (after noise reduction):
  double final_peak = 0;                   // the whole file's (skip mode)
  std::map<int64_t, double> window_peaks;  // simple mode's long windows
  std::vector<double> cache;               // the whole signal (before noise reduction), when it is short
  bool cached = false;
};

// Resamplers to 16 kHz kept between segments, per worker thread: a fresh one per segment
// (its FFT work arrays allocated, zeroed and faulted in) cost about a fifth of the 16 kHz
// stage. A resampler taken from here is reset, the same as a fresh one (tested).
class IdleResamplers {
 public:
  static std::unique_ptr<Resampler> take(int rate_in, int rate_out) {
    auto& idle = list();
    for (size_t i = 0; i < idle.size(); ++i) {
      if (idle[i]->rate_in() == rate_in && idle[i]->rate_out() == rate_out) {
        std::unique_ptr<Resampler> r = std::move(idle[i]);
        idle.erase(idle.begin() + long(i));
        kept_.fetch_sub(1, std::memory_order_relaxed);
        r->reset();
        return r;
      }
    }
    return std::make_unique<Resampler>(rate_in, rate_out);
  }
  static void give_back(std::unique_ptr<Resampler> r) {
    auto& idle = list();
    if (r && idle.size() < kKept) {
      idle.push_back(std::move(r));
      kept_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // Frees this thread's idle resamplers (see release_kept_buffers).
  static void release() {
    auto& idle = list();
    kept_.fetch_sub(long(idle.size()), std::memory_order_relaxed);
    std::vector<std::unique_ptr<Resampler>>().swap(idle);
  }
  // For tests: the idle resamplers kept now, in all threads.
  static long kept() { return kept_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kKept = 4;  // segments open at once in one file: rarely more than two
  static inline std::atomic<long> kept_{0};
  static std::vector<std::unique_ptr<Resampler>>& list() {
    // Released when the thread ends too, so that kept() stays the count.
    struct List {
      std::vector<std::unique_ptr<Resampler>> idle;
      ~List() { kept_.fetch_sub(long(idle.size()), std::memory_order_relaxed); }
    };
    thread_local List list;
    return list.idle;
  }
};

// The checksums a published set knows, by path under the output folder.
std::vector<FileResult::OutputChecksum> published_checksums(const OutputSet& set, const std::string& out_dir) {
  std::vector<FileResult::OutputChecksum> out;
  for (const auto& [path, c] : set.checksums()) {
    const std::string rel = path.compare(0, out_dir.size() + 1, out_dir + "/") == 0 ? path.substr(out_dir.size() + 1) : path;
    out.push_back({rel, c});
  }
  return out;
}

// One output segment, written at the target rate and, resampled on its own, at 16 kHz.
class SegmentOutput {
 public:
  SegmentOutput(const PipelineOptions& o, const std::string& name, StageTimes& times, Device* device)
      : sr_(o.out_dir + "/" + OutputLayout::kSlicedDir + "/" + name, o.sample_rate),
        at16k_(o.out_dir + "/" + OutputLayout::kSliced16kDir + "/" + name, OutputLayout::kRate16k),
        times_(times) {
    if (device) device_stage_.emplace(*device, o.sample_rate, OutputLayout::kRate16k, DeviceSignalStage::Options{});
    else resampler_ = IdleResamplers::take(o.sample_rate, OutputLayout::kRate16k);
  }
  ~SegmentOutput() {
    IdleResamplers::give_back(std::move(resampler_));
    SpareBuffers<SampleBuffer>::give_back(std::move(scratch_));
  }
  SegmentOutput(const SegmentOutput&) = delete;
  SegmentOutput& operator=(const SegmentOutput&) = delete;

  void write(const double* x, size_t n) {
    scratch_.clear();
    {
      StageTimer t(times_.resample16k);
      if (device_stage_) device_stage_->push(x, n, scratch_, nullptr);
      else resampler_->push(x, n, scratch_);
    }
    StageTimer t(times_.write);
    sr_.write(x, n);
    at16k_.write(scratch_.data(), scratch_.size());
  }
  // Completes both files under their temporary names and hands them to `outputs`.
  void finish(OutputSet& outputs) {
    scratch_.clear();
    {
      StageTimer t(times_.resample16k);
      if (device_stage_) device_stage_->finish(scratch_, nullptr);
      else resampler_->finish(scratch_);
    }
    StageTimer t(times_.write);
    at16k_.write(scratch_.data(), scratch_.size());
    complete(outputs);
  }
  // The whole segment at once: write() then finish(), the 16 kHz resampler reading the
  // samples in place.
  void write_all(const double* x, size_t n, OutputSet& outputs) {
    if (device_stage_) {
      write(x, n);
      return finish(outputs);
    }
    scratch_.clear();
    {
      StageTimer t(times_.resample16k);
      resampler_->push_all(x, n, scratch_);
    }
    StageTimer t(times_.write);
    sr_.write(x, n);
    at16k_.write(scratch_.data(), scratch_.size());
    complete(outputs);
  }

 private:
  void complete(OutputSet& outputs) {
    // Each file joins the set as soon as it is complete, so that a failure to complete the
    // other leaves no finished temporary outside the set (which removes them all).
    at16k_.finish();
    outputs.add(at16k_);
    sr_.finish();
    outputs.add(sr_);
  }

  WavWriter sr_, at16k_;
  std::unique_ptr<Resampler> resampler_;
  std::optional<DeviceSignalStage> device_stage_;
  SampleBuffer scratch_ = SpareBuffers<SampleBuffer>::take();  // the 16 kHz samples
  StageTimes& times_;
};

// Takes the processed signal in order and turns the plan's segments into files.
class SegmentEmitter {
 public:
  // With a device, `batch` and `file` say where the file's segments wait for their 16 kHz
  // twins, and where its outputs are collected until they are published together.
  // Without a batch, `held` (if set) is where the outputs are collected instead of the
  // emitter's own set, to be published by the caller.
  SegmentEmitter(const FileJob& job, const PipelineOptions& o, SegmentPlan plan, const Analysis* analysis,
                 FileResult& result, Device* device, OutputBatch* batch, OutputBatch::File* file, OutputSet* held)
      : job_(job), o_(o), plan_(std::move(plan)), analysis_(analysis), result_(result), device_(device),
        batch_(batch), file_(file), outputs_(batch ? &batch->outputs(file) : held ? held : &own_outputs_) {
    max_buffered_ = int64_t(kMaxBufferedSegmentSeconds * o.sample_rate);
  }

  // Renames every output of the file into place, together (the CPU path; the batch does it
  // for the device path).
  void publish() { outputs_->publish(); }
  std::vector<FileResult::OutputChecksum> checksums(const std::string& out_dir) const {
    return published_checksums(*outputs_, out_dir);
  }
  // Waits for the outputs finished so far; the first failure to write them, or "".
  std::string write_failure() const { return outputs_->failure(); }

  void feed(const double* x, size_t n) {
    const int64_t end = pos_ + int64_t(n);
    while (true) {
      if (!have_pending_ && !plan_.next(pending_)) break;
      have_pending_ = true;
      if (pending_.begin >= end) break;
      open(pending_);
      have_pending_ = false;
    }
    for (auto& seg : open_) {
      const int64_t a = std::max(seg->segment.begin, pos_);
      const int64_t b = std::min(seg->segment.end, end);
      if (b > a) take(*seg, x + (a - pos_), size_t(b - a));
    }
    pos_ = end;
    close_reached();
  }

  void finish() {
    // Segments still open run to the end (skip mode), or are a short tail to drop (simple).
    for (auto& seg : open_) {
      if (seg->segment.end == Segment::kToEnd) seg->segment.end = pos_;
    }
    if (plan_.drops_incomplete()) {
      open_.erase(std::remove_if(open_.begin(), open_.end(),
                                 [&](const auto& s) { return s->segment.end > pos_; }),
                  open_.end());
    }
    close_reached();
    if (!open_.empty()) throw std::logic_error("segment reaches past the end of the signal");
  }

 private:
  struct Open {
    Segment segment;
    std::string name;
    bool buffered = false;  // collected, then normalized by its own peak and written
    double peak = 0;        // streamed post normalization: the peak measured beforehand
    std::vector<double> samples;
    std::unique_ptr<SegmentOutput> out;
  };


 public:
  // Writes a segment whose samples are all at hand (automatic mode's pieces).
  void write_complete(const Segment& s, const double* x) {
    Open* seg = open(s);
    if (!seg) return;
    const size_t n = size_t(s.end - s.begin);
    if (seg->buffered) {
      take(*seg, x, n);
      close(*seg);
    } else {
      seg->out->write_all(normalized(*seg, x, n), n, *outputs_);
      written(*seg);
    }
    open_.pop_back();
  }

 private:
  Open* open(const Segment& s) {
    auto seg = std::make_unique<Open>();
    seg->segment = s;
    seg->name = OutputLayout::slice_name(job_.sid, job_.idx0, s.idx1);
    if (s.end != Segment::kToEnd && s.end <= s.begin) {
      result_.warnings.push_back(seg->name + ": empty segment, not written");
      return nullptr;
    }
    if (device_ && s.end != Segment::kToEnd && s.end - s.begin <= max_buffered_) {
      seg->buffered = true;
    } else if (o_.normalization == Normalization::kPost) {
      // Open-ended segments (skip mode) only occur with an analysis pass behind them.
      const int64_t length = s.end == Segment::kToEnd ? analysis_->samples - s.begin : s.end - s.begin;
      if (analysis_ == nullptr || length <= max_buffered_) {
        seg->buffered = true;
      } else {
        seg->peak = s.end == Segment::kToEnd ? analysis_->final_peak : analysis_->window_peaks.at(s.idx1);
        const std::string refusal = normalization_refusal(seg->peak);
        if (!refusal.empty()) {
          result_.warnings.push_back(seg->name + ": not written, " + refusal);
          return nullptr;
        }
      }
    }
    if (!seg->buffered) seg->out = std::make_unique<SegmentOutput>(o_, seg->name, result_.times, device_);
    open_.push_back(std::move(seg));
    return open_.back().get();
  }

  void take(Open& seg, const double* x, size_t n) {
    if (seg.buffered) {
      seg.samples.insert(seg.samples.end(), x, x + n);
    } else {
      seg.out->write(normalized(seg, x, n), n);
    }
  }

  // An unbuffered segment's samples as written: `post` normalized by its peak (in scratch_),
  // or as they are.
  const double* normalized(const Open& seg, const double* x, size_t n) {
    if (o_.normalization != Normalization::kPost) return x;
    scratch_.resize(n);
    for (size_t i = 0; i < n; ++i) scratch_[i] = kernels::normalize_sample(x[i], seg.peak);
    return scratch_.data();
  }

  void written(const Open& seg) {
    ++result_.slices;
    result_.slice_names.push_back(seg.name);
  }

  void close_reached() {
    for (size_t i = 0; i < open_.size();) {
      if (open_[i]->segment.end <= pos_) {
        close(*open_[i]);
        open_.erase(open_.begin() + long(i));
      } else {
        ++i;
      }
    }
  }

  void close(Open& seg) {
    if (seg.buffered) {
      double peak = 0;
      if (o_.normalization == Normalization::kPost) {
        peak = peak_of(seg.samples.data(), seg.samples.size());
        const std::string refusal = normalization_refusal(peak);
        if (!refusal.empty()) {
          result_.warnings.push_back(seg.name + ": not written, " + refusal);
          return;
        }
      }
      if (batch_) {
        // Normalized, resampled and written when the batch runs (before the file publishes).
        StageTimer t(result_.times.resample16k);
        batch_->add(file_, seg.name, seg.samples.data(), seg.samples.size(), peak);
        written(seg);
        return;
      }
      for (double& v : seg.samples) v = kernels::normalize_sample(v, peak);
      seg.out = std::make_unique<SegmentOutput>(o_, seg.name, result_.times, device_);
      seg.out->write_all(seg.samples.data(), seg.samples.size(), *outputs_);
    } else {
      seg.out->finish(*outputs_);
    }
    written(seg);
  }

  const FileJob& job_;
  const PipelineOptions& o_;
  SegmentPlan plan_;
  const Analysis* analysis_;
  FileResult& result_;
  Device* device_;
  OutputBatch* batch_;
  OutputBatch::File* file_;
  int64_t max_buffered_ = 0;
  int64_t pos_ = 0;
  Segment pending_;
  bool have_pending_ = false;
  std::vector<std::unique_ptr<Open>> open_;
  SampleBuffer scratch_;
  // This file's finished outputs, published together at the end; if the file fails first,
  // the set removes them (and the open segments' writers remove their own). On the device
  // path the set is the batch's; a held file's is its holder's.
  OutputSet own_outputs_;
  OutputSet* outputs_;
};

// What the report says about a file's level: measured on the signal after the high-pass,
// before any normalization.
class LevelStats {
 public:
  explicit LevelStats(int sample_rate) {
    const SlicerSpec spec = SlicerSpec::for_rate(sample_rate);
    hop_ = spec.hop;
    silent_below_ = spec.threshold * spec.threshold;
  }
  void add(const double* x, size_t n) {
    // A hop at a time, in locals: the members' sums, kept in memory across a per-sample
    // loop, made this a store-to-load chain worth 5% of a run. Sixteen partial sums per hop
    // (the order changes the last bits of what is only reported).
    double peak = peak_;
    for (size_t i = 0; i < n;) {
      const size_t take = std::min<size_t>(n - i, size_t(hop_ - hop_fill_));
      double s[kLevelLanes] = {};
      size_t k = take / kLevelLanes * kLevelLanes;
      add_squares_and_peak(x + i, k, s, &peak);
      for (; k < take; ++k) {
        const double v = x[i + k];
        s[k % kLevelLanes] += v * v;
        peak = std::max(peak, std::fabs(v));
      }
      for (size_t w = kLevelLanes / 2; w > 0; w /= 2) {
        for (size_t l = 0; l < w; ++l) s[l] += s[l + w];
      }
      const double sum = s[0];
      hop_sum_ += sum;
      total_ += sum;
      hop_fill_ += int64_t(take);
      i += take;
      if (hop_fill_ == hop_) close_hop();
    }
    peak_ = peak;
    samples_ += int64_t(n);
  }
  void finish(FileResult& r) {
    if (hop_fill_ > 0) close_hop();
    r.peak = peak_;
    r.rms = samples_ > 0 ? std::sqrt(total_ / double(samples_)) : 0.0;
    r.silence_share = hops_ > 0 ? double(silent_hops_) / double(hops_) : 0.0;
  }

 private:
  void close_hop() {
    ++hops_;
    if (hop_sum_ / double(hop_fill_) < silent_below_) ++silent_hops_;
    hop_sum_ = 0;
    hop_fill_ = 0;
  }
  int64_t hop_ = 1, hop_fill_ = 0, hops_ = 0, silent_hops_ = 0, samples_ = 0;
  double silent_below_ = 0, peak_ = 0, total_ = 0, hop_sum_ = 0;
};

// A first pass is needed only for a peak that must be known before writing: the whole
// file's (pre normalization; post with skip, where the segment is the file), or long simple
// windows' (post). Everything else, automatic cutting included, is one streaming pass.
bool needs_analysis(const PipelineOptions& o) {
  if (o.normalization == Normalization::kPre) return true;
  if (o.normalization != Normalization::kPost) return false;
  if (o.cut == CutMode::kSkip) return true;
  return o.chunk_seconds > kMaxBufferedSegmentSeconds;
}

// The noise reduction stage, on the device when there is one.
void make_denoiser(std::optional<Denoiser>& denoiser, const PipelineOptions& o, Device* device) {
  if (device) denoiser.emplace(o.sample_rate, o.denoise, DeviceSpectralGate::on(*device));
  else denoiser.emplace(o.sample_rate, o.denoise);
}

// Pushes x[0, n) through the noise reduction, and with `last` flushes it, handing what became
// final to `next`, whose own time is not counted as the noise reduction's.
template <class Next>
void denoise_into(Denoiser& denoiser, const double* x, size_t n, bool last, double& denoise_time, Next&& next) {
  double total = 0, handed_on = 0;
  {
    StageTimer t(total);
    const Denoiser::Sink sink = [&](const double* y, size_t m) {
      StageTimer h(handed_on);
      next(y, m);
    };
    denoiser.push(x, n, sink);
    if (last) denoiser.finish(sink);
  }
  denoise_time += total - handed_on;
}

Analysis analyze(SignalSource& source, const PipelineOptions& o, StageTimes& times, Device* device) {
  Analysis a;
  const bool window_peaks = o.normalization == Normalization::kPost && o.cut == CutMode::kSimple;
  const SegmentPlan simple = window_peaks
                                 ? SegmentPlan::simple(o.sample_rate, o.chunk_seconds, o.overlap_seconds)
                                 : SegmentPlan::skip();
  // Post normalization's peaks are those of the denoised signal: this pass runs the noise
  // reduction too (and the writing pass runs it again, with the same result).
  std::optional<Denoiser> denoiser;
  if (o.denoise > 0 && o.normalization == Normalization::kPost) make_denoiser(denoiser, o, device);
  int64_t final_pos = 0;
  auto measure_final = [&](const double* x, size_t n) {
    StageTimer t(times.analysis);
    const int64_t pos = final_pos;
    final_pos += int64_t(n);
    // Without noise reduction the final signal is the signal, whose peak is `peak` (below).
    if (denoiser) a.final_peak = std::max(a.final_peak, peak_of(x, n));
    if (window_peaks && n > 0) {
      const int64_t len = simple.window_length(), step = simple.window_step();
      const int64_t first = pos - len + 1 <= 0 ? 0 : (pos - len + 1 + step - 1) / step;
      for (int64_t k = first; k * step < pos + int64_t(n); ++k) {
        const int64_t lo = std::max(k * step, pos), hi = std::min(k * step + len, pos + int64_t(n));
        double& p = a.window_peaks[k];
        p = std::max(p, peak_of(x + (lo - pos), size_t(hi - lo)));
      }
    }
  };
  a.cached = true;
  SampleBuffer block;
  while (source.next(block)) {
    {
      StageTimer t(times.analysis);
      const size_t n = block.size();
      a.samples += int64_t(n);
      a.peak = std::max(a.peak, peak_of(block.data(), n));
      if (a.cached) {
        if (a.samples <= kCacheSamples) {
          a.cache.insert(a.cache.end(), block.begin(), block.end());
        } else {
          a.cached = false;
          std::vector<double>().swap(a.cache);
        }
      }
    }
    if (denoiser) denoise_into(*denoiser, block.data(), block.size(), false, times.denoise, measure_final);
    else measure_final(block.data(), block.size());
  }
  if (denoiser) denoise_into(*denoiser, nullptr, 0, true, times.denoise, measure_final);
  else a.final_peak = a.peak;
  return a;
}

void run_file(const FileJob& job, const PipelineOptions& o, FileResult& result, Device* device, OutputBatch* batch,
              OutputBatch::File* file, OutputSet* held, const std::function<void()>& between_blocks) {
  // The device computes the slicer's RMS frames with the signal when the slicer sees that
  // signal unchanged (no pre normalization or noise reduction between them).
  const bool device_frames = device && o.cut == CutMode::kAutomatic && o.normalization != Normalization::kPre &&
                             o.denoise == 0;
  SignalSource source(job, o, result.times, device, device_frames, between_blocks);
  const WavInfo& info = source.info();
  result.input_rate = info.sample_rate;
  result.input_channels = info.channels;
  result.input_bits = info.bits;
  result.input_float = info.is_float;
  result.input_coding = info.format == 7 ? "mulaw" : info.format == 6 ? "alaw" : info.is_float ? "float" : "pcm";
  result.input_frames = info.frames;

  // Too short to hold one RMS frame of the slicer: nothing a model can learn from.
  const int64_t min_samples = SlicerSpec::for_rate(o.sample_rate).win;
  auto too_short = [&](int64_t samples) {
    result.slices = 0;  // anything finished stays unpublished and is removed
    result.slice_names.clear();
    result.status = FileStatus::kSkipped;
    result.error = "too short: " + std::to_string(samples) + " samples at " + std::to_string(o.sample_rate) +
                   " Hz, less than one " + std::to_string(min_samples) + "-sample analysis frame";
  };
  if (info.frames >= 0 && resampled_length(info.frames, info.sample_rate, o.sample_rate) < min_samples) {
    result.loaded = true;
    result.samples = resampled_length(info.frames, info.sample_rate, o.sample_rate);
    return too_short(result.samples);
  }

  std::optional<Analysis> analysis;
  if (needs_analysis(o)) {
    analysis = analyze(source, o, result.times, device);
    result.loaded = true;
    result.samples = analysis->samples;
    result.peak = analysis->peak;
    if (analysis->samples < min_samples) return too_short(analysis->samples);
    if (o.normalization == Normalization::kPre) {
      const std::string refusal = normalization_refusal(analysis->peak);
      if (!refusal.empty()) {
        result.status = FileStatus::kRejected;
        result.error = "rejected by pre normalization: " + refusal;
        return;
      }
    }
  }

  // Automatic mode's segments come from the streaming cutter; the plan serves the others.
  SegmentPlan plan = o.cut == CutMode::kSimple ? SegmentPlan::simple(o.sample_rate, o.chunk_seconds, o.overlap_seconds)
                     : o.cut == CutMode::kSkip ? SegmentPlan::skip()
                                               : SegmentPlan::none();
  std::optional<AutomaticCutter> cutter;
  if (o.cut == CutMode::kAutomatic) cutter.emplace(o.sample_rate);

  SegmentEmitter emitter(job, o, std::move(plan), analysis ? &*analysis : nullptr, result, device, batch, file, held);
  LevelStats stats(o.sample_rate);
  const double pre_peak = o.normalization == Normalization::kPre ? analysis->peak : 0;
  // Noise reduction runs between pre normalization and the cut: the slicer sees its output.
  // It hands samples on up to one window late, and the rest when flushed.
  std::optional<Denoiser> denoiser;
  if (o.denoise > 0) make_denoiser(denoiser, o, device);
  const AutomaticCutter::Emit write_piece = [&](const Segment& s, const double* x) { emitter.write_complete(s, x); };
  // `in_place`: x is what was just appended to the cutter's input().
  auto cut = [&](const double* x, size_t n, const std::vector<double>* frames, bool in_place) {
    if (n == 0) return;
    if (cutter) {
      // The cutter's own time is analysis; the pieces it writes are timed by their stages.
      double writing = 0, cutting = 0;
      {
        StageTimer t(cutting);
        const AutomaticCutter::Emit timed_write = [&](const Segment& s, const double* piece) {
          StageTimer w(writing);
          write_piece(s, piece);
        };
        if (in_place) cutter->took(n, timed_write, frames);
        else cutter->push(x, n, timed_write, frames);
      }
      result.times.analysis += cutting - writing;
    } else {
      emitter.feed(x, n);
    }
  };
  // What the noise reduction hands on goes to the cut.
  auto cut_denoised = [&](const double* y, size_t m) { cut(y, m, nullptr, false); };
  auto emit = [&](double* x, size_t n, const std::vector<double>* frames, bool in_place) {
    stats.add(x, n);
    if (pre_peak > 0) {
      for (size_t i = 0; i < n; ++i) x[i] = kernels::normalize_sample(x[i], pre_peak);
    }
    if (denoiser) {
      denoise_into(*denoiser, x, n, false, result.times.denoise, cut_denoised);
    } else {
      cut(x, n, device_frames ? frames : nullptr, in_place);
    }
  };
  int64_t samples = 0;
  SampleBuffer block;
  // The outputs are written behind (io/io_thread.h): a write failure may show only when they
  // publish. If another error ends the file first, the write failure still says what it was:
  // the disk, which will not heal by itself, must stop the run.
  try {
    if (analysis && analysis->cached) {
      // The cache is not read again: the blocks are processed where they lie.
      for (size_t at = 0; at < analysis->cache.size(); at += kReadBlockFrames) {
        const size_t n = std::min(kReadBlockFrames, analysis->cache.size() - at);
        emit(analysis->cache.data() + at, n, nullptr, false);
      }
      samples = int64_t(analysis->cache.size());
    } else {
      if (analysis) source.rewind();
      // When the signal goes straight to the automatic cut, the source appends it where the
      // cutter keeps it: the high-pass, the level statistics and pre normalization work on
      // it there, and it is not copied once more (about 2% of a worker's time).
      const bool in_place = cutter && !denoiser;
      SampleBuffer& into = in_place ? cutter->input() : block;
      for (;;) {
        if (!in_place) into.clear();
        const size_t before = into.size();
        if (!source.next_into(into)) break;
        const size_t n = into.size() - before;
        samples += int64_t(n);
        emit(into.data() + before, n, source.frames(), in_place);
      }
    }
    if (denoiser) {
      denoise_into(*denoiser, nullptr, 0, true, result.times.denoise, cut_denoised);
    }
    if (cutter) cutter->finish(write_piece);
    emitter.finish();
    if (analysis && samples != analysis->samples) throw std::runtime_error("the file changed while it was read");
  } catch (const WriteError&) {
    throw;
  } catch (...) {
    const std::string failed = emitter.write_failure();
    if (!failed.empty()) throw WriteError(failed);
    throw;
  }
  // Too short to hold one analysis frame: nothing a model can learn from. Its outputs (if
  // any) are still unpublished, and go when the emitter does.
  if (samples < min_samples) {
    result.loaded = true;
    result.samples = samples;
    return too_short(samples);
  }
  if (batch || held) {
    result.deferred = true;  // the batch, or the holder, publishes
  } else {
    emitter.publish();
    result.checksums = emitter.checksums(o.out_dir);
  }
  result.loaded = true;
  result.samples = samples;
  stats.finish(result);
  result.clipped_frames = source.clipped_frames();
  result.input_checksum = source.input_checksum();
  result.input_stamp = source.input_stamp();
  if (result.input_checksum) result.input_stamp_after = stamp_now(job.path);
  result.status = FileStatus::kOk;
  for (const std::string& w : source.warnings()) result.warnings.push_back(w);
  if (!source.device_note().empty()) result.warnings.push_back(source.device_note());
}

// A file that failed: nothing of it is kept. `write_error`: the disk failed it (see WriteError).
void mark_failed(FileResult& r, const std::string& why, bool write_error) {
  r.status = FileStatus::kFailed;
  r.error = why;
  r.write_error = write_error;
  r.slices = 0;
  r.slice_names.clear();
}

// What a file abandoned in flight reports.
FileResult interrupted_result() {
  FileResult r;
  r.status = FileStatus::kSkipped;
  r.error = Interrupted().what();
  return r;
}

}  // namespace

FileResult run_one(const FileJob& job, const PipelineOptions& options, Device* device, OutputBatch* batch,
                   OutputBatch::File* file, OutputSet* held, const std::function<void()>& between_blocks);

HeldFile::HeldFile() = default;
HeldFile::~HeldFile() = default;
HeldFile::HeldFile(HeldFile&&) noexcept = default;
HeldFile& HeldFile::operator=(HeldFile&&) noexcept = default;
bool HeldFile::written() const { return !outputs || outputs->written(); }

FileResult publish_held(HeldFile& held, const PipelineOptions& options) {
  FileResult r = std::move(held.result);
  r.deferred = false;
  try {
    held.outputs->publish();
    r.checksums = published_checksums(*held.outputs, options.out_dir);
  } catch (const std::exception& e) {
    mark_failed(r, e.what(), true);
  }
  held.outputs.reset();
  return r;
}

FileResult after_write_failure(const std::string& write_failure) {
  FileResult r;
  r.status = FileStatus::kSkipped;
  r.error = "interrupted: an earlier file could not be written (" + write_failure + "), so this one's outputs were not";
  return r;
}

std::string device_setup_error(const std::exception& e) {
  return std::string("the device could not be set up: ") + e.what();
}

void release_kept_buffers() {
  IdleResamplers::release();
  SpareBuffers<SampleBuffer>::release();
  SpareBuffers<std::vector<double>>::release();
  WavWriter::release_spare_buffers();
}

long kept_buffers() {
  return IdleResamplers::kept() + SpareBuffers<SampleBuffer>::kept() + SpareBuffers<std::vector<double>>::kept() +
         long(WavWriter::spare_buffers_kept());
}

FileResult process_file(const FileJob& job, const PipelineOptions& options, Device* device, OutputBatch* batch,
                        size_t index, HeldFile* hold, const std::function<void()>& between_blocks) {
  if (device && !batch) {
    // On a device the outputs always go through a batch: here, one of this file alone. Making
    // it uploads to the device, which can fail like any device call: the file fails then.
    std::optional<OutputBatch> own;
    try {
      own.emplace(*device, options);
    } catch (const std::exception& e) {
      FileResult r;
      r.status = FileStatus::kFailed;
      r.error = device_setup_error(e);
      return r;
    }
    FileResult r = process_file(job, options, device, &*own, index, nullptr, between_blocks);
    if (!r.deferred) return r;
    auto done = own->finish(stop_level(options) >= kAbandon);
    return done.empty() ? r : done.front().second;
  }
  OutputBatch::File* file = batch ? batch->open(index) : nullptr;
  if (hold && (device || batch)) hold = nullptr;  // the device path's outputs go through a batch
  if (hold) hold->outputs = std::make_unique<OutputSet>();
  FileResult result = run_one(job, options, device, batch, file, hold ? hold->outputs.get() : nullptr, between_blocks);
  if (file) {
    if (result.deferred) batch->close(file, result);
    else batch->discard(file);
  }
  if (hold) {
    if (result.deferred) {
      hold->index = index;
      hold->result = result;
    } else {
      hold->outputs.reset();  // removes whatever the file wrote
    }
  }
  return result;
}

FileResult run_one(const FileJob& job, const PipelineOptions& options, Device* device, OutputBatch* batch,
                   OutputBatch::File* file, OutputSet* held, const std::function<void()>& between_blocks) {
  FileResult result;
  try {
    run_file(job, options, result, device, batch, file, held, between_blocks);
  } catch (const WriteError& e) {
    mark_failed(result, e.what(), true);
  } catch (const Interrupted&) {
    result = interrupted_result();
  } catch (const TooManyOpenFiles& e) {
    result = FileResult();
    result.status = FileStatus::kSkipped;
    result.error = e.what();
  } catch (const std::exception& e) {
    mark_failed(result, e.what(), false);
  }
  if (result.status != FileStatus::kOk) result.deferred = false;
  result.seconds = double(result.samples) / double(options.sample_rate);
  return result;
}

// ---- OutputBatch ----------------------------------------------------------------------

struct OutputBatch::File {
  size_t index = 0;
  FileResult result;
  bool closed = false;   // processing ended well
  std::string error;     // a segment could not be written
  bool write_error = false;
  bool unwritten = false;  // an earlier file's write failure kept some of its segments back
  double write_seconds = 0;
  OutputSet outputs;
};

OutputBatch::OutputBatch(Device& device, const PipelineOptions& options)
    : options_(options),
      segments_(std::make_unique<DeviceSegmentBatch>(
          device, options.sample_rate, OutputLayout::kRate16k,
          [this](void* tag, const std::string& name, const double* x, size_t n, const double* at16k, size_t n16) {
            write(static_cast<File*>(tag), name, x, n, at16k, n16);
          },
          [](void* tag, const std::string& error) {
            File* file = static_cast<File*>(tag);
            if (file->error.empty()) file->error = error;
          })) {}

OutputBatch::~OutputBatch() = default;

size_t OutputBatch::staged() const { return segments_->staged(); }

OutputBatch::File* OutputBatch::open(size_t index) {
  files_.push_back(std::make_unique<File>());
  files_.back()->index = index;
  return files_.back().get();
}

void OutputBatch::add(File* file, const std::string& name, const double* x, size_t n, double peak) {
  segments_->add(file, name, x, n, peak);
}

OutputSet& OutputBatch::outputs(File* file) { return file->outputs; }

void OutputBatch::close(File* file, const FileResult& result) {
  file->result = result;
  file->closed = true;
}

void OutputBatch::discard(File* file) {
  // A file that failed otherwise may have met a write failure too: nothing more is written.
  const std::string failed = file->outputs.failure();
  if (!failed.empty() && write_failure_.empty()) write_failure_ = failed;
  segments_->drop(file);
  files_.erase(std::remove_if(files_.begin(), files_.end(), [file](const auto& f) { return f.get() == file; }),
               files_.end());
}

// One segment and its 16 kHz twin, complete: written under temporary names into the file's
// set. A failure marks the file (and the rest of the batch goes on). The writing runs behind
// (io/io_thread.h), so a failure may show only when finish() publishes the file; the files
// written after it in the meantime are dropped there.
void OutputBatch::write(File* file, const std::string& name, const double* x, size_t n, const double* at16k,
                        size_t n16) {
  if (!file->error.empty()) return;
  if (!write_failure_.empty()) {
    file->unwritten = true;
    return;
  }
  double seconds = 0;
  try {
    StageTimer t(seconds);
    WavWriter sr(options_.out_dir + "/" + OutputLayout::kSlicedDir + "/" + name, options_.sample_rate);
    WavWriter low(options_.out_dir + "/" + OutputLayout::kSliced16kDir + "/" + name, OutputLayout::kRate16k);
    sr.write(x, n);
    low.write(at16k, n16);
    low.finish();
    file->outputs.add(low);  // in the set as soon as complete (see SegmentOutput::finish)
    sr.finish();
    file->outputs.add(sr);
  } catch (const WriteError& e) {
    file->error = e.what();
    file->write_error = true;
    write_failure_ = e.what();
  } catch (const std::exception& e) {
    file->error = e.what();
  }
  file->write_seconds += seconds;
}

std::vector<std::pair<size_t, FileResult>> OutputBatch::finish(bool abandon) {
  std::vector<std::pair<size_t, FileResult>> done;
  std::string batch_error;
  if (!abandon) {
    try {
      segments_->flush();
    } catch (const std::exception& e) {
      batch_error = e.what();
    }
  }
  // A file that failed: no slices, and a write failure is the batch's first if none came before.
  auto fail = [&](FileResult& r, const std::string& why, bool write_error) {
    mark_failed(r, why, write_error);
    if (write_error && write_failure_.empty()) write_failure_ = why;
  };
  // Files still in processing (not closed) stay; the others end here.
  std::vector<std::unique_ptr<File>> keep;
  for (auto& f : files_) {
    if (!f->closed) {
      keep.push_back(std::move(f));
      continue;
    }
    FileResult r = f->result;
    r.deferred = false;
    r.times.write += f->write_seconds;
    // A write failure behind the batch decides what the file was, whatever else failed.
    const std::string written = abandon ? std::string() : f->outputs.failure();
    if (abandon) {
      segments_->drop(f.get());
      r = interrupted_result();
    } else if (!batch_error.empty() || !f->error.empty() || !written.empty()) {
      fail(r, !written.empty() ? written : batch_error.empty() ? f->error : batch_error, f->write_error || !written.empty());
    } else if (f->unwritten || !write_failure_.empty()) {
      // An earlier file could not be written: this one's outputs (whatever of them was
      // written behind meanwhile) go with it.
      r = after_write_failure(write_failure_);
    } else {
      try {
        f->outputs.publish();
        r.checksums = published_checksums(f->outputs, options_.out_dir);
      } catch (const std::exception& e) {
        fail(r, e.what(), true);
      }
    }
    done.emplace_back(f->index, r);
    // Dropping the file removes whatever of it was not published.
  }
  files_ = std::move(keep);
  return done;
}

}  // namespace voxprep
