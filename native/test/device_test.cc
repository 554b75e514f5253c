// Native checks of the batched (GPU) path, runnable without Node (ctest):
//   - the block-parallel high-pass (the GPU's algorithm, run on the CPU) against the
//     sequential filter;
//   - the device stages on the host device (the GPU's per-thread functions in loops)
//     against the CPU stages: resampling, RMS frames and batched 16 kHz outputs bit for bit,
//     the high-pass to float64 rounding;
//   - whole files through the engine on the CPU and on the batched path, in the golden
//     configurations without noise reduction: same names, same sample counts, SNR;
//   - device errors (a device that throws on demand): a failed batch fails its files, leaves
//     nothing behind and nothing for later batches; a device that fails at a file's setup
//     fails that file;
//   - with a usable CUDA device, the same on the GPU (else one "skip" line with the reason).
// VOXPREP_PARITY_JOBS names a jobs file (path<TAB>sid<TAB>idx0 per line; scripts/gpu-prepare.js
// writes one for the golden dataset) to run the whole-file checks on it as well.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "dsp/block_iir.h"
#include "dsp/denoise.h"
#include "dsp/highpass.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"
#include "engine/engine.h"
#include "engine/gpu.h"
#include "io/wav_reader.h"
#include "pipeline/device_stages.h"
#include "test/compare.h"
#include "pipeline/file_pipeline.h"
#include "pipeline/output_layout.h"

using namespace voxprep;

static int failures = 0, passes = 0;
static void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  (ok ? passes : failures)++;
}
static std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char line[256];
  std::snprintf(line, sizeof line, f, a, b, c);
  return line;
}

// Speech-like test signal: harmonic bursts over a noise floor, pauses, a little DC and hum.
static std::vector<double> speechlike(size_t n, int rate, unsigned seed) {
  std::vector<double> x(n);
  unsigned s = seed * 2654435761u + 1;
  auto rnd = [&] {
    s = s * 1664525u + 1013904223u;
    return double(s >> 8) / double(1u << 24) - 0.5;
  };
  const double f0 = 110 + 60 * (seed % 5);
  for (size_t i = 0; i < n; ++i) {
    const double t = double(i) / rate;
    const double gate = std::fmod(t + 0.37 * seed, 2.3) < 1.6 ? 1.0 : 0.0;
    double v = 0;
    for (int h = 1; h <= 12; ++h) v += std::sin(2 * M_PI * f0 * h * t + h) / h;
    x[i] = 0.3 * gate * v * (0.6 + 0.4 * std::sin(2 * M_PI * 3 * t)) + 0.002 * rnd() + 0.003 +
           0.004 * std::sin(2 * M_PI * 50 * t);
  }
  return x;
}

// ---- the block-parallel high-pass against the sequential one -------------------------

static void block_parallel_highpass() {
  for (int rate : {16000, 32000, 40000, 48000}) {
    const auto x = speechlike(size_t(rate) * 12 + 17, rate, unsigned(rate / 1000));
    // The sequential filter: the sections one after another, sample by sample.
    const HighpassDesign d = HighpassDesign::butterworth(rate);
    std::vector<double> seq = x;
    for (const auto& sec : d.sections) {
      double z[2] = {0, 0};
      kernels::biquad_run(sec, z, seq.data(), seq.data(), (long long)seq.size());
    }
    // The reference's transfer-function form, for scale.
    std::vector<double> ba = x;
    double z[HighpassSpec::kOrder] = {};
    for (double& v : ba) v = kernels::iir_df2t_step(d.b.data(), d.a.data(), z, HighpassSpec::kOrder, v);
    for (long long len : {256LL, 512LL, 4096LL}) {
      std::vector<double> par = x;
      double state[2 * HighpassSpec::kSections] = {};
      // In uneven stretches, as a stream: the state carries from one to the next.
      size_t at = 0, step = 100003;
      while (at < par.size()) {
        const size_t n = std::min(step, par.size() - at);
        highpass_block_parallel(d.sections.data(), HighpassSpec::kSections, par.data() + at, (long long)n, len, state);
        at += n;
        step = step * 2 + 7;
      }
      const double err = test::max_difference_of_rms(par, seq);
      check(err < 1e-11, "block-parallel high-pass (blocks of " + std::to_string(len) + ") equals the sequential one at " +
                             std::to_string(rate) + " Hz" + fmt(" (max |difference| %.1e of the RMS; bound 1e-11)", err));
    }
    const double snr = test::snr_db(ba, seq);
    check(snr >= 100, "sections against the reference's transfer-function form at " + std::to_string(rate) + " Hz" +
                          fmt(": SNR %.1f dB (bound 100)", snr));
  }
}

// ---- device stages against the CPU stages --------------------------------------------

struct StageRun {
  std::vector<double> out, frames;
  std::string note;
};

static StageRun run_stage(Device& device, int rate_in, int rate_out, bool highpass, bool frames,
                          const std::vector<double>& x, unsigned seed) {
  DeviceSignalStage::Options o;
  o.highpass = highpass;
  o.frames = frames;
  o.chunk_input = 70001;  // several runs per signal, with history carried between them
  DeviceSignalStage stage(device, rate_in, rate_out, o);
  StageRun r;
  size_t at = 0;
  unsigned s = seed;
  while (at < x.size()) {
    s = s * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(1 + (s >> 8) % 65536, x.size() - at);
    stage.push(x.data() + at, n, r.out, frames ? &r.frames : nullptr);
    at += n;
  }
  stage.finish(r.out, frames ? &r.frames : nullptr);
  r.note = stage.note();
  return r;
}

// The CPU stages, the resampler in its direct form: the arithmetic the GPU's kernel shares.
// A pair with too many phases to tabulate is resampled by the CPU on the GPU path too, in
// its fastest form.
static std::vector<double> cpu_stage(int rate_in, int rate_out, bool highpass, const std::vector<double>& x) {
  const bool tabulated = rate_in == rate_out || ResamplerDesign::get(rate_in, rate_out)->tabulated();
  std::vector<double> y = resample(x.data(), x.size(), rate_in, rate_out,
                                   tabulated ? Resampler::Form::kDirect : Resampler::Form::kFastest);
  if (highpass) {
    Highpass hp(rate_out);
    hp.process(y.data(), y.size());
  }
  return y;
}

static std::vector<double> frames_of(const std::vector<double>& y, int rate) {
  const SlicerSpec spec = SlicerSpec::for_rate(rate);
  std::vector<double> f;
  for (int64_t t = 0;; ++t) {
    const int64_t from = t * spec.hop - spec.win / 2, to = from + spec.win;
    if (to > int64_t(y.size())) break;
    f.push_back(kernels::frame_rms_at(y.data(), t, spec.hop, int64_t(y.size())));
  }
  return f;
}

// One device against the CPU stages (reference = the CPU; other = another device's run to
// compare bit for bit, when given).
static void device_stages(Device& device, const std::string& label) {
  const int pairs[][2] = {{44100, 40000}, {48000, 40000}, {16000, 48000}, {40000, 40000}, {22050, 32000}, {44101, 40000}};
  for (const auto& p : pairs) {
    const std::string pair = std::to_string(p[0]) + "->" + std::to_string(p[1]);
    const auto x = speechlike(size_t(p[0]) * 7 + 333, p[0], unsigned(p[0] % 97));
    // Resampling alone: the same bits as the CPU resampler.
    const StageRun plain = run_stage(device, p[0], p[1], false, false, x, 5);
    const auto want = cpu_stage(p[0], p[1], false, x);
    check(plain.out == want, label + ": resampling " + pair + " gives the CPU's bits (" +
                                 std::to_string(plain.out.size()) + " samples)" + (plain.note.empty() ? "" : " [" + plain.note + "]"));
    // With the high-pass and the RMS frames.
    const StageRun full = run_stage(device, p[0], p[1], true, true, x, 9);
    const auto want_hp = cpu_stage(p[0], p[1], true, x);
    const double err = full.out.size() == want_hp.size() ? test::max_difference_of_rms(full.out, want_hp) : 1e9;
    check(err < 1e-11, label + ": resampling + high-pass " + pair + " matches the CPU" +
                           fmt(" (max |difference| %.1e of the RMS; bound 1e-11)", err));
    check(full.frames == frames_of(full.out, p[1]),
          label + ": RMS frames " + pair + " are those of its output, bit for bit (" + std::to_string(full.frames.size()) + " frames)");
  }
  // Batched 16 kHz outputs with post normalization, against one CPU resampler per segment.
  for (int rate : {32000, 40000, 48000}) {
    std::vector<std::vector<double>> segs;
    unsigned s = unsigned(rate);
    for (int k = 0; k < 60; ++k) {
      s = s * 1103515245u + 12345u;
      const size_t n = k == 0 ? 1 : 1 + (s >> 8) % size_t(rate * 4);
      segs.push_back(speechlike(n, rate, unsigned(k)));
    }
    std::vector<std::string> got_names;
    std::vector<std::vector<double>> got_x, got_16k;
    int failed = 0;
    DeviceSegmentBatch batch(
        device, rate, OutputLayout::kRate16k,
        [&](void*, const std::string& name, const double* x, size_t n, const double* y, size_t n16) {
          got_names.push_back(name);
          got_x.emplace_back(x, x + n);
          got_16k.emplace_back(y, y + n16);
        },
        [&](void*, const std::string&) { ++failed; });
    std::vector<double> peaks;
    for (size_t k = 0; k < segs.size(); ++k) {
      double peak = 0;
      for (double v : segs[k]) peak = std::max(peak, std::fabs(v));
      peaks.push_back(k % 3 == 0 ? 0.0 : peak);  // every third one not normalized
      batch.add(nullptr, "s" + std::to_string(k), segs[k].data(), segs[k].size(), peaks.back());
      if (k == 41) batch.flush();  // two batches
    }
    batch.flush();
    bool same = got_names.size() == segs.size() && failed == 0;
    for (size_t k = 0; same && k < segs.size(); ++k) {
      std::vector<double> norm = segs[k];
      if (peaks[k] > 0) for (double& v : norm) v = kernels::normalize_sample(v, peaks[k]);
      same = got_names[k] == "s" + std::to_string(k) && got_x[k] == norm &&
             got_16k[k] == resample(norm.data(), norm.size(), rate, OutputLayout::kRate16k, Resampler::Form::kDirect);
    }
    check(same, label + ": batched post normalization and 16 kHz outputs at " + std::to_string(rate) +
                    " Hz give the CPU's bits (60 segments, two batches)");
  }
}

// ---- noise reduction: the device's window against the CPU's ----------------------------

static void device_denoise(Device& device, const std::string& label) {
  struct Case { size_t n; int sr; double p; };
  const Case cases[] = {{1300000, 40000, 0.7}, {250000, 32000, 1.0}};
  for (const Case& c : cases) {
    auto x = speechlike(c.n, c.sr, 17);
    unsigned s = 5;
    for (double& v : x) v += 0.01 * (double((s = s * 1664525u + 1013904223u) >> 8) / double(1u << 24) - 0.5);
    std::vector<double> want, got;
    Denoiser cpu(c.sr, c.p);
    Denoiser dev(c.sr, c.p, DeviceSpectralGate::on(device));
    for (size_t at = 0; at < x.size(); at += 100000) {
      const size_t n = std::min<size_t>(100000, x.size() - at);
      cpu.push(x.data() + at, n, want);
      dev.push(x.data() + at, n, got);
    }
    cpu.finish(want);
    dev.finish(got);
    double change = 0;
    for (size_t i = 0; i < x.size() && i < want.size(); ++i) change = std::max(change, std::fabs(want[i] - x[i]));
    const double err = got.size() == want.size() ? test::max_difference_of_rms(got, want) : 1e9;
    check(err < 1e-11 && change > 1e-3, label + ": noise reduction of " + std::to_string(c.n) + " samples at " +
                                            std::to_string(c.sr) + " Hz matches the CPU stage" +
                                            fmt(" (max |difference| %.1e of the RMS; bound 1e-11)", err));
  }
}

// ---- whole files through the engine --------------------------------------------------

// A WAV file of 16-bit PCM, or of 32-bit float (which can hold a NaN).
static void write_wav(const std::string& path, const std::vector<double>& x, int rate, int channels, bool float32 = false) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const uint32_t width = float32 ? 4u : 2u;
  const uint32_t frames = uint32_t(x.size() / size_t(channels)), bytes = frames * width * uint32_t(channels);
  auto u32 = [&](uint32_t v) { std::fwrite(&v, 4, 1, f); };
  auto u16 = [&](uint16_t v) { std::fwrite(&v, 2, 1, f); };
  std::fwrite("RIFF", 1, 4, f); u32(36 + bytes); std::fwrite("WAVEfmt ", 1, 8, f); u32(16); u16(float32 ? 3 : 1);
  u16(uint16_t(channels)); u32(uint32_t(rate)); u32(uint32_t(rate) * width * uint32_t(channels));
  u16(uint16_t(width * uint32_t(channels))); u16(uint16_t(8 * width));
  std::fwrite("data", 1, 4, f); u32(bytes);
  for (double v : x) {
    if (float32) {
      const float q = float(v);
      std::fwrite(&q, 4, 1, f);
    } else {
      const int16_t q = int16_t(std::lround(std::max(-1.0, std::min(1.0, v)) * 32767));
      std::fwrite(&q, 2, 1, f);
    }
  }
  std::fclose(f);
}

static std::vector<FileJob> generated_dataset(const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  struct Spec { int rate, channels; double seconds; };
  const Spec specs[] = {{48000, 1, 21.3}, {16000, 1, 9.7}, {44100, 2, 14.2}, {32000, 1, 6.1}, {40000, 1, 37.5}};
  std::vector<FileJob> jobs;
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; ++i) {
    const Spec& s = specs[i];
    const size_t frames = size_t(s.seconds * s.rate);
    const auto mono = speechlike(frames, s.rate, unsigned(i + 3));
    std::vector<double> x;
    for (size_t k = 0; k < frames; ++k) for (int c = 0; c < s.channels; ++c) x.push_back(mono[k] * (c ? 0.8 : 1.0));
    const std::string path = dir + "/f" + std::to_string(i) + ".wav";
    write_wav(path, x, s.rate, s.channels);
    jobs.push_back(FileJob{path, int64_t(i % 2), int64_t(i), {}});
  }
  return jobs;
}

static std::vector<FileJob> jobs_from_file(const std::string& file) {
  std::vector<FileJob> jobs;
  std::ifstream in(file);
  std::string line;
  const std::string dir = file.substr(0, file.rfind('/') + 1);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string path, sid, idx0;
    if (!std::getline(fields, path, '\t') || !std::getline(fields, sid, '\t') || !std::getline(fields, idx0)) continue;
    jobs.push_back(FileJob{path[0] == '/' ? path : dir + path, std::atoll(sid.c_str()), std::atoll(idx0.c_str()), {}});
  }
  return jobs;
}

static std::map<std::string, std::vector<double>> read_folder(const std::string& dir) {
  std::map<std::string, std::vector<double>> files;
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 5 || name.substr(name.size() - 4) != ".wav") continue;
    WavReader r(dir + "/" + name);
    std::vector<double> x;
    while (r.read_mono(x, 1 << 16) > 0) {}
    files[name] = std::move(x);
  }
  closedir(d);
  return files;
}

static void remove_tree(const std::string& dir) {
  const std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

// An empty output folder with its two slice folders (whatever was there before goes).
static void fresh_output(const std::string& dir) {
  remove_tree(dir);
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/" + OutputLayout::kSlicedDir).c_str(), 0755);
  mkdir((dir + "/" + OutputLayout::kSliced16kDir).c_str(), 0755);
}

struct Config {
  const char* name;
  int rate;
  CutMode cut;
  bool highpass;
  Normalization norm;
  double chunk, overlap;
  double denoise = 0;
};
// The golden configurations (the last with noise reduction).
static const Config kConfigs[] = {
    {"sr40000-automatic-hpf", 40000, CutMode::kAutomatic, true, Normalization::kNone, 3.0, 0.3},
    {"sr48000-simple-hpf-post", 48000, CutMode::kSimple, true, Normalization::kPost, 3.0, 0.3},
    {"sr32000-skip-pre", 32000, CutMode::kSkip, false, Normalization::kPre, 3.0, 0.3},
    {"sr40000-automatic-post", 40000, CutMode::kAutomatic, false, Normalization::kPost, 3.0, 0.3},
    {"sr32000-simple-chunk2.5-overlap0.1", 32000, CutMode::kSimple, false, Normalization::kNone, 2.5, 0.1},
    {"sr40000-automatic-hpf-denoise0.7", 40000, CutMode::kAutomatic, true, Normalization::kNone, 3.0, 0.3, 0.7},
};

// Runs the jobs on the CPU and on `device`, each config, and compares the outputs.
static void engine_parity(const std::vector<FileJob>& jobs, const DeviceChoice& device, const std::string& label,
                          const std::string& scratch, double min_snr) {
  for (const Config& c : kConfigs) {
    double worst = 1e9;
    bool same_names = true, same_counts = true, all_ok = true;
    size_t files = 0;
    std::string where[2];
    for (int side = 0; side < 2; ++side) {
      where[side] = scratch + "/" + c.name + (side ? "-device" : "-cpu");
      fresh_output(where[side]);
      PipelineOptions o;
      o.sample_rate = c.rate;
      o.cut = c.cut;
      o.highpass = c.highpass;
      o.normalization = c.norm;
      o.chunk_seconds = c.chunk;
      o.overlap_seconds = c.overlap;
      o.denoise = c.denoise;
      o.out_dir = where[side];
      DeviceChoice cpu;
      const auto results = Engine::instance().run_batch(jobs, o, 2, side ? device : cpu, nullptr);
      for (const auto& r : results) {
        all_ok = all_ok && (r.status == FileStatus::kOk || r.status == FileStatus::kRejected);
      }
    }
    for (const char* sub : {OutputLayout::kSlicedDir, OutputLayout::kSliced16kDir}) {
      const auto a = read_folder(where[0] + "/" + sub), b = read_folder(where[1] + "/" + sub);
      if (a.size() != b.size()) same_names = false;
      for (const auto& [name, x] : a) {
        auto it = b.find(name);
        if (it == b.end()) {
          same_names = false;
          continue;
        }
        ++files;
        if (it->second.size() != x.size()) {
          same_counts = false;
          continue;
        }
        worst = std::min(worst, test::snr_db(x, it->second));
      }
    }
    check(all_ok && same_names && same_counts && files > 0 && worst >= min_snr,
          label + ", " + c.name + ": " + std::to_string(files) + " outputs, same names " + (same_names ? "yes" : "NO") +
              ", same sample counts " + (same_counts ? "yes" : "NO") +
              fmt(", worst SNR %.1f dB against the CPU (bound %.0f; 999 = identical)", worst, min_snr));
    remove_tree(where[0]);
    remove_tree(where[1]);
  }
}

// ---- device errors ---------------------------------------------------------------------

// The host device, with its copies and launches throwing while `failing` is set, as a CUDA
// error would (an out-of-memory, a kernel fault): the error paths that only a real device
// reaches otherwise.
class FailingDevice final : public Device {
 public:
  bool failing = false;
  void* acquire(size_t bytes) override { return inner_->acquire(bytes); }
  void release(void* p, size_t bytes) override { inner_->release(p, bytes); }
  void* acquire_host(size_t bytes) override { return inner_->acquire_host(bytes); }
  void release_host(void* p, size_t bytes) override { inner_->release_host(p, bytes); }
  void upload(void* dst, const void* src, size_t bytes) override {
    fail("upload");
    inner_->upload(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override { inner_->download(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { inner_->copy(dst, src, bytes); }
  void synchronize() override { inner_->synchronize(); }
  void resample(const batch::ResampleLaunch& p) override {
    fail("resample");
    inner_->resample(p);
  }
  void normalize(const batch::NormalizeLaunch& p) override {
    fail("normalize");
    inner_->normalize(p);
  }
  void rms_frames(const batch::RmsLaunch& p) override {
    fail("rms_frames");
    inner_->rms_frames(p);
  }
  void biquad_blocks(const kernels::Biquad& s, const double* transition, double* x, long long n, long long len,
                     double* ends, double* starts, double* state) override {
    fail("biquad_blocks");
    inner_->biquad_blocks(s, transition, x, n, len, ends, starts, state);
  }
  void spectral_gate(const batch::GateLaunch& p) override {
    fail("spectral_gate");
    inner_->spectral_gate(p);
  }
  void count_segment_batch() override { inner_->count_segment_batch(); }

 private:
  void fail(const char* what) {
    if (failing) throw std::runtime_error(std::string("injected device error in ") + what);
  }
  std::unique_ptr<Device> inner_ = make_host_device();
};

static size_t count_files(const std::string& dir) { return read_folder(dir).size(); }

static void device_failures(const std::vector<FileJob>& jobs, const std::string& scratch) {
  // A batch whose run fails: each segment it held is reported failed, and none of them is
  // run again by the next batch (their files may be gone by then).
  {
    FailingDevice dev;
    std::vector<std::string> done, failed;
    DeviceSegmentBatch batch(
        dev, 40000, OutputLayout::kRate16k,
        [&](void*, const std::string& name, const double*, size_t, const double*, size_t) { done.push_back(name); },
        [&](void* tag, const std::string&) { failed.push_back(*static_cast<std::string*>(tag)); });
    const auto seg = speechlike(40000, 40000, 9);
    std::string a = "a", b = "b", c = "c";
    batch.add(&a, "a", seg.data(), seg.size(), 0);
    batch.add(&b, "b", seg.data(), seg.size(), 0.5);
    dev.failing = true;
    bool threw = false;
    try {
      batch.flush();
    } catch (const std::exception&) {
      threw = true;
    }
    dev.failing = false;
    batch.add(&c, "c", seg.data(), seg.size(), 0);
    batch.flush();
    check(threw && failed == std::vector<std::string>{"a", "b"} && done == std::vector<std::string>{"c"},
          "a device batch that fails reports each of its segments failed, and the next batch runs only its own");
  }
  // Whole files through a lane's batch, as the engine keeps one: two files wait in it and its
  // run fails; both end failed with the device's error and leave no output, and the batch
  // goes on to write the next file.
  {
    const std::string out = scratch + "/device-failures";
    fresh_output(out);
    PipelineOptions o;
    o.out_dir = out;
    FailingDevice dev;
    OutputBatch batch(dev, o);
    bool deferred = true;
    for (size_t i : {size_t(1), size_t(3)}) {  // short files: both wait in the batch
      deferred = deferred && process_file(jobs[i], o, &dev, &batch, i).deferred;
    }
    dev.failing = true;
    auto ended = batch.finish(false);
    dev.failing = false;
    bool both_failed = ended.size() == 2;
    for (const auto& [index, r] : ended) {
      both_failed = both_failed && r.status == FileStatus::kFailed && r.error.find("injected device error") != std::string::npos;
    }
    const size_t left = count_files(out + "/" + OutputLayout::kSlicedDir) + count_files(out + "/" + OutputLayout::kSliced16kDir);
    const FileResult next = process_file(jobs[1], o, &dev, &batch, 5);
    auto later = batch.finish(false);
    const bool next_ok = next.deferred && later.size() == 1 && later[0].first == 5 &&
                         later[0].second.status == FileStatus::kOk && later[0].second.slices > 0;
    const size_t written = count_files(out + "/" + OutputLayout::kSlicedDir);
    check(deferred && both_failed && left == 0 && next_ok && written == size_t(later[0].second.slices),
          "files whose device batch fails end failed with its error and leave no output; the batch then writes the next file (" +
              std::to_string(written) + " outputs)");
    remove_tree(out);
  }
  // The engine's lanes on such a device: every file fails with the reason, and the run
  // goes on to its end (the batch used to be made outside any try: the process ended).
  {
    const std::string out = scratch + "/device-setup-failure";
    remove_tree(out);
    mkdir(out.c_str(), 0755);
    PipelineOptions o;
    o.out_dir = out;
    DeviceChoice failing = choose_device(DeviceRequest::parse("emulate"));
    failing.make = [] {
      auto d = std::make_unique<FailingDevice>();
      d->failing = true;
      return std::unique_ptr<Device>(std::move(d));
    };
    const auto results = Engine::instance().run_batch({jobs[0], jobs[1], jobs[3]}, o, 2, failing, nullptr);
    bool all_failed = results.size() == 3;
    for (const auto& r : results) {
      all_failed = all_failed && r.status == FileStatus::kFailed &&
                   r.error.find("could not be set up: injected device error in upload") != std::string::npos;
    }
    check(all_failed, "the engine on a device that fails as the lanes set up their batches: each file fails with the reason (" +
                          (results.empty() ? std::string() : results[0].error) + ")");
    remove_tree(out);
  }
  // Outputs are written behind: a piece that cannot be created fails only when the file's
  // outputs publish. When another error ends the file first (here a NaN late in the input),
  // the file must still fail as a write error, with the write's reason: that is what stops
  // the run (the disk will not heal by itself).
  {
    const std::string out = scratch + "/late-write-failure";
    remove_tree(out);
    mkdir(out.c_str(), 0755);  // without the slice folders: every output fails to be created
    std::vector<double> x = speechlike(size_t(12 * 40000), 40000, 77);
    x[size_t(11 * 40000)] = std::nan("");
    const std::string input = scratch + "/late-nan.wav";
    write_wav(input, x, 40000, 1, true);
    PipelineOptions o;
    o.out_dir = out;
    const FileResult r = process_file(FileJob{input, 0, 0, {}}, o);
    check(r.status == FileStatus::kFailed && r.write_error && r.error.rfind("cannot create ", 0) == 0 && count_files(out) == 0,
          "a write failure that shows after another error ended the file still fails it as a write error (" + r.error + ")");
    remove_tree(out);
    std::remove(input.c_str());
  }
  // A file on a device that fails as its output batch is set up (its resampling table is
  // uploaded then) fails with the reason instead of escaping as an exception.
  {
    PipelineOptions o;
    o.out_dir = scratch;
    FailingDevice dev;
    dev.failing = true;
    FileResult r;
    bool escaped = false;
    try {
      r = process_file(jobs[0], o, &dev, nullptr, 0);
    } catch (const std::exception&) {
      escaped = true;
    }
    check(!escaped && r.status == FileStatus::kFailed && r.error.find("injected device error in upload") != std::string::npos,
          "a file whose device cannot set up its output batch fails with the reason (" + r.error + ")");
  }
}

// The input's stamp (size, modification time) when it was opened and once it was read: the
// same for a file left alone; for one whose modification time is set while it is processed
// (before its second block is taken), the second is the new one, and the run manifest
// then does not record the file as complete.
static void input_stamps(const std::string& scratch) {
  const std::string out = scratch + "/stamps";
  fresh_output(out);
  const std::string input = scratch + "/stamped.wav";
  write_wav(input, speechlike(size_t(6 * 40000), 40000, 79), 40000, 1, true);
  PipelineOptions o;
  o.out_dir = out;
  const FileResult same = process_file(FileJob{input, 0, 0, {}}, o);
  check(same.status == FileStatus::kOk && same.input_checksum && same.input_stamp && same.input_stamp_after &&
            same.input_stamp_after->size == same.input_stamp->size &&
            same.input_stamp_after->mtime_ns == same.input_stamp->mtime_ns && same.input_stamp->size == int64_t(same.input_checksum->size),
        "a file left alone: its stamp once read is its stamp when opened");
  int blocks = 0;
  const int64_t new_mtime_ns = 1234567890LL * 1000000000LL + 5;
  const FileResult touched = process_file(FileJob{input, 0, 0, {}}, o, nullptr, nullptr, 0, nullptr, [&] {
    if (++blocks != 2) return;
    const struct timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 5}};
    utimensat(AT_FDCWD, input.c_str(), times, 0);
  });
  check(touched.status == FileStatus::kOk && blocks >= 2 && touched.input_stamp && touched.input_stamp_after &&
            touched.input_stamp->mtime_ns == same.input_stamp->mtime_ns && touched.input_stamp_after->mtime_ns == new_mtime_ns,
        "a file whose modification time changes while it is read: its stamp once read is the new one (" + std::to_string(blocks) +
            " blocks)");
  remove_tree(out);
  std::remove(input.c_str());
}

// With on_done, the engine hands each file's result over as the file ends and keeps none (a
// batch of many files held every result to the end, and fragmented the heap between them):
// each index once, the same results a batch without on_done returns, and an empty vector.
static void engine_handover(const std::vector<FileJob>& jobs, const DeviceChoice& device, const std::string& label,
                            const std::string& scratch) {
  const std::string out = scratch + "/handover";
  PipelineOptions o;
  o.out_dir = out;
  fresh_output(out);
  release_kept_buffers();  // what this thread kept from files it ran itself (device_failures)
  const auto kept = Engine::instance().run_batch(jobs, o, 2, device, nullptr);
  fresh_output(out);
  std::mutex mutex;
  std::vector<int> times(jobs.size(), 0);
  std::vector<FileResult> handed(jobs.size());
  const auto returned = Engine::instance().run_batch(jobs, o, 2, device, [&](size_t i, FileResult&& r) {
    std::lock_guard<std::mutex> lock(mutex);
    ++times[i];
    handed[i] = std::move(r);
  });
  bool same = kept.size() == jobs.size();
  for (size_t i = 0; same && i < jobs.size(); ++i) {
    same = times[i] == 1 && handed[i].status == kept[i].status && handed[i].slice_names == kept[i].slice_names &&
           handed[i].samples == kept[i].samples && handed[i].checksums.size() == kept[i].checksums.size() && !handed[i].deferred;
  }
  check(same && returned.empty(), label + ": with on_done, each file's result is handed over once, as kept without it, and the batch returns none");
  // The buffers the workers kept from file to file are freed once the batch is done.
  check(kept_buffers() == 0, label + ": no buffers kept between files once the batch is done (" +
                                 std::to_string(kept_buffers()) + " kept)");
  remove_tree(out);
}

// On the CPU a worker holds a finished file until its outputs, written behind, are complete,
// and publishes it while it goes on with the next (HeldFile): a short file's result must come
// while the long file after it is still being processed, not once that one ends. The short
// file's result stops the run outright (abandon): the long one must then end interrupted in
// flight. Published as it ended, the short file's result would come before the long one
// started ("not started"); published only when the next ended, the long one would finish.
static void engine_publishes_while_next_runs(const std::string& scratch) {
  const std::string dir = scratch + "/held", out = scratch + "/held-out";
  mkdir(dir.c_str(), 0755);
  fresh_output(out);
  const std::vector<FileJob> jobs = {FileJob{dir + "/a.wav", 0, 0, {}}, FileJob{dir + "/b.wav", 0, 1, {}}};
  write_wav(jobs[0].path, speechlike(2 * 16000, 16000, 11), 16000, 1);
  write_wav(jobs[1].path, speechlike(300 * 16000, 16000, 12), 16000, 1);
  int32_t stop = kRun;
  PipelineOptions o;
  o.out_dir = out;
  o.stop = &stop;
  std::vector<FileResult> got(jobs.size());
  std::vector<size_t> order;
  Engine::instance().run_batch(jobs, o, 1, DeviceChoice(), [&](size_t i, FileResult&& r) {
    if (i == 0) __atomic_store_n(&stop, kAbandon, __ATOMIC_RELAXED);
    order.push_back(i);
    got[i] = std::move(r);
  });
  const auto files = read_folder(out + "/" + OutputLayout::kSlicedDir);
  check(got[0].status == FileStatus::kOk && got[0].slices > 0 && got[0].checksums.size() == 2 * size_t(got[0].slices) &&
            files.size() == size_t(got[0].slices) && files.count("0_0_0.wav") == 1 && order == std::vector<size_t>{0, 1},
        "engine on the CPU: a held file is published, with its checksums, before the next file's result (" +
            std::to_string(files.size()) + " outputs)");
  check(got[1].status == FileStatus::kSkipped && got[1].error.rfind("interrupted:", 0) == 0,
        "engine on the CPU: a held file is published while the next file is processed (the next: " + got[1].error + ")");
  remove_tree(dir);
  remove_tree(out);
}

int main() {
  block_parallel_highpass();
  {
    auto host = make_host_device();
    device_stages(*host, "host device");
    device_denoise(*host, "host device");
  }
  char tmpl[] = "/tmp/voxprep-device-test-XXXXXX";
  const std::string scratch = mkdtemp(tmpl);
  const auto jobs = generated_dataset(scratch + "/dataset");
  std::vector<FileJob> golden;
  if (const char* f = std::getenv("VOXPREP_PARITY_JOBS")) golden = jobs_from_file(f);

  device_failures(jobs, scratch);
  input_stamps(scratch);
  engine_handover(jobs, DeviceChoice(), "engine on the CPU", scratch);
  engine_publishes_while_next_runs(scratch);
  engine_handover(jobs, choose_device(DeviceRequest::parse("emulate")), "engine on the emulated GPU path", scratch);

  DeviceChoice emulate = choose_device(DeviceRequest::parse("emulate"));
  // Outputs are float32: a float64 difference of 1e-12 flips the odd last bit (~180 dB).
  engine_parity(jobs, emulate, "generated dataset, emulated GPU path", scratch, 150);

  // The GPU, when there is one.
  DeviceChoice gpu;
  try {
    gpu = choose_device(DeviceRequest::parse("cuda"));
  } catch (const DeviceUnavailable& e) {
    std::printf("skip GPU checks: %s\n", e.what());
  }
  if (gpu.backend == Backend::kCuda) {
    // Each part on its own: a CUDA error in one (an exception) is a failure of that part, and
    // the others still run, so that one session on a GPU reports all it can.
    auto guarded = [](const std::string& part, const std::function<void()>& run) {
      try {
        run();
      } catch (const std::exception& e) {
        check(false, part + " stopped with an error: " + e.what());
      }
    };
    std::unique_ptr<Device> device;
    guarded("GPU " + gpu.name + ": making the device", [&] { device = cuda::make_device(gpu.index, &gpu_counters()); });
    if (device) {
      guarded("GPU " + gpu.name + ": device stages", [&] { device_stages(*device, "GPU " + gpu.name); });
      guarded("GPU " + gpu.name + ": noise reduction", [&] { device_denoise(*device, "GPU " + gpu.name); });
    }
    guarded("GPU " + gpu.name + ": generated dataset", [&] {
      engine_parity(jobs, gpu, "generated dataset, GPU " + gpu.name, scratch, 100);
    });
    if (!golden.empty()) {
      guarded("GPU " + gpu.name + ": golden dataset", [&] {
        engine_parity(golden, gpu, "golden dataset, GPU " + gpu.name, scratch, 100);
      });
    }
    const GpuStatus g = gpu_status(false);
    check(g.init_attempts == 1 && g.initializations == 1, "CUDA was initialized exactly once (" +
                                                             std::to_string(g.initializations) + ")");
  } else if (!golden.empty()) {
    engine_parity(golden, emulate, "golden dataset, emulated GPU path", scratch, 150);
  }
  remove_tree(scratch);
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
