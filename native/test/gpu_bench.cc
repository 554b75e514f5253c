// voxprep_gpu_bench: the GPU path's speed against the CPU's, on a deterministic speech-like
// corpus made in the same run. A measurement, not a test: nothing fails on a slow result;
// it prints one table for a person (or scripts/gpu-check) to read.
//
//   voxprep_gpu_bench [--minutes 20] [--corpus DIR] [--denoise P] [--emulate]
//
// Rows: the CPU with every core, the CPU with one thread, the GPU with every core as a lane
// (when a CUDA device is usable), and with --emulate the GPU path's code on the host device
// (slow: for checking this program on a machine without a GPU). Configuration: the CLI's
// defaults (40 kHz, automatic cut, high-pass, no normalization), --denoise optional.
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/gpu.h"
#include "pipeline/file_pipeline.h"
#include "pipeline/output_layout.h"

using namespace voxprep;

// ---- the corpus ------------------------------------------------------------------------
// Durations cycle through this list: mostly short takes and a few long ones, as real
// datasets hold, so that every lane has files while the long ones still set a floor.
static const double kDurations[] = {24, 37, 52, 21, 68, 300, 29, 44, 95, 33, 180, 26, 58, 41, 23, 130};
static const int kRates[] = {48000, 44100, 16000, 32000, 48000, 44100, 32000};  // 7: not in step with the 16 above

static double uniform(uint32_t& s) {
  s = s * 1664525u + 1013904223u;
  return double(s >> 8) / double(1u << 24);
}

// Voiced stretches (a harmonic wave from a table, gliding pitch, a syllable envelope) and
// pauses of 0.1 to 1.2 s, over a faint noise floor with 50 Hz hum: the slicer has silences to
// cut at and every stage has real work. A table, not a sum of sines: 20 minutes in seconds.
static std::vector<int16_t> speechlike(size_t frames, int rate, int channels, uint32_t seed) {
  static const std::vector<double> table = [] {
    std::vector<double> t(4096);
    for (size_t i = 0; i < t.size(); ++i)
      for (int h = 1; h <= 10; ++h) t[i] += 0.5 * std::sin(2 * M_PI * h * double(i) / double(t.size())) / h;
    return t;
  }();
  std::vector<int16_t> out(frames * size_t(channels));
  uint32_t s = seed * 2654435761u + 17;
  double phase = 0, hum = 0, f0 = 140, gain = 0.3;
  size_t left = 0, length = 1;
  bool voiced = false;
  for (size_t i = 0; i < frames; ++i) {
    if (left == 0) {
      voiced = !voiced;
      length = left = size_t((voiced ? 0.4 + 2.0 * uniform(s) : 0.1 + 1.1 * uniform(s)) * rate) + 1;
      f0 = 90 + 180 * uniform(s);
      gain = 0.15 + 0.35 * uniform(s);
    }
    const double at = double(length - left--) / double(length);
    hum += 50.0 / rate;
    double v = 0.0015 * (uniform(s) - 0.5) + 0.002 * std::sin(2 * M_PI * hum);
    if (voiced) {
      phase += f0 * (1 + 0.15 * at) / rate;
      phase -= std::floor(phase);
      v += gain * std::sin(M_PI * at) * table[size_t(phase * 4096) & 4095];
    }
    for (int c = 0; c < channels; ++c) {
      const double w = c ? 0.8 * v + 0.001 * (uniform(s) - 0.5) : v;  // the second channel differs a little
      out[i * size_t(channels) + size_t(c)] = int16_t(std::lround(std::fmax(-1.0, std::fmin(1.0, w)) * 32767));
    }
  }
  return out;
}

static void write_wav16(const std::string& path, const std::vector<int16_t>& x, int rate, int channels) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) { std::perror(path.c_str()); std::exit(1); }
  const uint32_t bytes = uint32_t(x.size() * 2);
  auto u32 = [&](uint32_t v) { std::fwrite(&v, 4, 1, f); };
  auto u16 = [&](uint16_t v) { std::fwrite(&v, 2, 1, f); };
  std::fwrite("RIFF", 1, 4, f); u32(36 + bytes); std::fwrite("WAVEfmt ", 1, 8, f); u32(16); u16(1);
  u16(uint16_t(channels)); u32(uint32_t(rate)); u32(uint32_t(rate * 2 * channels)); u16(uint16_t(2 * channels)); u16(16);
  std::fwrite("data", 1, 4, f); u32(bytes);
  std::fwrite(x.data(), 2, x.size(), f);
  if (std::fclose(f) != 0) { std::perror(path.c_str()); std::exit(1); }
}

// Makes the corpus in `dir`, or reuses it when its list says it was made for these minutes.
// The list is written last, so an interrupted run is never taken for a whole corpus.
static std::vector<FileJob> corpus(const std::string& dir, double minutes, double& seconds) {
  const std::string list = dir + "/corpus.tsv", header = "# voxprep_gpu_bench corpus, minutes " + std::to_string(minutes);
  std::vector<FileJob> jobs;
  seconds = 0;
  std::ifstream in(list);
  std::string line, name;
  if (std::getline(in, line) && line == header) {
    while (in >> name >> line) {
      jobs.push_back(FileJob{dir + "/" + name, int64_t(jobs.size() % 3), int64_t(jobs.size()), {}});
      seconds += std::atof(line.c_str());
    }
    std::printf("corpus: reusing %zu files in %s\n", jobs.size(), dir.c_str());
    return jobs;
  }
  mkdir(dir.c_str(), 0755);
  std::string rows = header + "\n";
  for (size_t i = 0; seconds < minutes * 60; ++i) {
    const double len = std::fmax(20, std::fmin(kDurations[i % 16], minutes * 60 - seconds));
    const int rate = kRates[i % 7], channels = i % 3 == 1 ? 2 : 1;
    char file[32];
    std::snprintf(file, sizeof file, "take_%03zu.wav", i);
    write_wav16(dir + "/" + file, speechlike(size_t(len * rate), rate, channels, uint32_t(i + 1)), rate, channels);
    jobs.push_back(FileJob{dir + "/" + file, int64_t(i % 3), int64_t(i), {}});
    rows += std::string(file) + "\t" + std::to_string(len) + "\n";
    seconds += len;
  }
  std::ofstream(list) << rows;
  std::printf("corpus: made %zu files in %s\n", jobs.size(), dir.c_str());
  return jobs;
}

// ---- the runs ----------------------------------------------------------------------------

struct Row {
  std::string label;
  int lanes = 0, ok = 0, bad = 0;
  double wall = 0, cpu = 0;
  long long to = 0, from = 0, launches = 0, kernel_ns = 0, slices = 0;
  StageTimes t;
  std::vector<std::string> names;  // every slice, in job order: to compare backends
  std::string first_error;
};

static double cpu_seconds() {  // user + system time of every thread in the process
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static void remove_tree(const std::string& dir) {
  if (std::system(("rm -rf '" + dir + "'").c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

static Row measure(const std::string& label, const std::vector<FileJob>& jobs, PipelineOptions o, int lanes,
                   const DeviceChoice& device, const std::string& out) {
  // The engine writes into the two slice folders and expects them to be there.
  mkdir(out.c_str(), 0755);
  mkdir((out + "/" + OutputLayout::kSlicedDir).c_str(), 0755);
  mkdir((out + "/" + OutputLayout::kSliced16kDir).c_str(), 0755);
  o.out_dir = out;
  GpuCounters& g = gpu_counters();
  const long long to = g.bytes_to_device, from = g.bytes_from_device, launches = g.launches, ns = g.kernel_ns;
  const double cpu = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const auto results = Engine::instance().run_batch(jobs, o, lanes, device, nullptr);
  Row r;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cpu = cpu_seconds() - cpu;
  r.to = g.bytes_to_device - to, r.from = g.bytes_from_device - from;
  r.launches = g.launches - launches, r.kernel_ns = g.kernel_ns - ns;
  r.label = label, r.lanes = lanes;
  for (const FileResult& f : results) {
    (f.status == FileStatus::kOk ? r.ok : r.bad)++;
    if (f.status != FileStatus::kOk && r.first_error.empty()) r.first_error = f.error;
    r.slices += f.slices;
    r.names.insert(r.names.end(), f.slice_names.begin(), f.slice_names.end());
    const StageTimes& s = f.times;
    r.t.decode += s.decode, r.t.resample += s.resample, r.t.highpass += s.highpass, r.t.denoise += s.denoise;
    r.t.analysis += s.analysis, r.t.resample16k += s.resample16k, r.t.write += s.write;
  }
  remove_tree(out);
  std::printf("  %-28s %7.2f s wall\n", label.c_str(), r.wall);
  std::fflush(stdout);
  return r;
}

int main(int argc, char** argv) {
  double minutes = 20, denoise = 0;
  std::string corpus_dir;
  bool emulate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--minutes" && has_value) minutes = std::atof(argv[++i]);
    else if (a == "--corpus" && has_value) corpus_dir = argv[++i];
    else if (a == "--denoise" && has_value) denoise = std::atof(argv[++i]);
    else if (a == "--emulate") emulate = true;
    else {
      std::fprintf(stderr, "usage: voxprep_gpu_bench [--minutes 20] [--corpus DIR] [--denoise P] [--emulate]\n");
      return 2;
    }
  }
  if (!(minutes > 0) || !(denoise >= 0 && denoise <= 1)) {
    std::fprintf(stderr, "voxprep_gpu_bench: --minutes must be > 0 and --denoise in [0, 1]\n");
    return 2;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string scratch = std::string(tmp && *tmp ? tmp : "/tmp") + "/voxprep-gpu-bench-XXXXXX";
  if (!mkdtemp(&scratch[0])) { std::perror("mkdtemp"); return 1; }
  double seconds = 0;
  const auto jobs = corpus(corpus_dir.empty() ? scratch + "/corpus" : corpus_dir, minutes, seconds);
  if (jobs.empty()) {
    std::fprintf(stderr, "voxprep_gpu_bench: the corpus list names no files\n");
    return 1;
  }

  PipelineOptions o;  // defaults: 40 kHz, automatic cut, high-pass, no normalization
  o.denoise = denoise;
  const int cores = Engine::default_threads();
  char strength[16] = "off";
  if (denoise > 0) std::snprintf(strength, sizeof strength, "%.2f", denoise);
  std::printf("voxprep_gpu_bench: %zu files, %.1f min of audio, %d cores; %d Hz, automatic cut, high-pass, "
              "no normalization, denoise %s\n", jobs.size(), seconds / 60, cores, o.sample_rate, strength);

  std::vector<Row> rows;
  DeviceChoice cpu;  // the default choice is the CPU
  rows.push_back(measure("cpu, all cores", jobs, o, cores, cpu, scratch + "/out"));
  rows.push_back(measure("cpu, 1 thread", jobs, o, 1, cpu, scratch + "/out"));
  std::string gpu_line;
  try {
    const DeviceChoice gpu = choose_device(DeviceRequest::parse("cuda"));
    // Each worker's CUDA stream and memory pools are made on its first file and kept for the
    // process's life; a short warm-up pays for that outside the measured run (it is shown).
    std::vector<FileJob> warm(size_t(cores), jobs.front());
    for (size_t k = 0; k < warm.size(); ++k) warm[k].idx0 = int64_t(k);  // distinct output names
    const Row w = measure("gpu warm-up (" + std::to_string(cores) + " x file 1)", warm, o, cores, gpu, scratch + "/warm");
    rows.push_back(measure("gpu " + gpu.name, jobs, o, cores, gpu, scratch + "/out"));
    gpu_line = "GPU: " + gpu.name + (w.bad ? " (warm-up had failures: " + w.first_error + ")" : "");
  } catch (const std::exception& e) {
    gpu_line = std::string("GPU: skipped (") + e.what() + ")";
  }
  if (emulate) rows.push_back(measure("emulated GPU path", jobs, o, cores, choose_device(DeviceRequest::parse("emulate")), scratch + "/out"));
  remove_tree(scratch);

  // The table.
  std::printf("\n%-28s %5s %8s %8s %8s %6s %5s %9s %9s %8s %8s\n", "run", "lanes", "wall s", "x real", "CPU s",
              "slices", "same", "to dev MB", "from MB", "kernel s", "launches");
  for (const Row& r : rows) {
    const bool device = r.label.rfind("gpu", 0) == 0;  // the host device (emulated) counts nothing
    std::printf("%-28.28s %5d %8.2f %8.1f %8.2f %6lld %5s", r.label.c_str(), r.lanes, r.wall, seconds / r.wall, r.cpu,
                r.slices, &r != &rows[0] ? (r.names == rows[0].names ? "yes" : "NO") : "-");
    if (device) std::printf(" %9.1f %9.1f %8.3f %8lld\n", r.to / 1e6, r.from / 1e6, r.kernel_ns * 1e-9, r.launches);
    else std::printf(" %9s %9s %8s %8s\n", "-", "-", "-", "-");
  }
  // Where each file's time went (the pipeline's StageTimes: wall seconds inside the worker,
  // summed over files), to see which stages the GPU took over.
  std::printf("\n%-28s %8s %8s %8s %8s %8s %8s %8s\n", "stage s, summed over files", "decode", "resample", "highpass", "denoise",
              "analysis", "16k", "write");
  for (const Row& r : rows) {
    std::printf("%-28.28s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", r.label.c_str(), r.t.decode, r.t.resample,
                r.t.highpass, r.t.denoise, r.t.analysis, r.t.resample16k, r.t.write);
  }
  for (const Row& r : rows)
    if (r.bad) std::printf("%s: %d of %d files not ok; first: %s\n", r.label.c_str(), r.bad, r.ok + r.bad, r.first_error.c_str());
  std::printf("\n%s\n", gpu_line.c_str());
  if (denoise > 0) std::printf("noise reduction runs where the rest does: the GPU rows denoise on the GPU\n");
  std::printf("CPU all cores vs 1 thread: %.2fx\n", rows[1].wall / rows[0].wall);
  for (size_t i = 2; i < rows.size(); ++i)
    std::printf("%s vs CPU all cores: %.2fx%s\n", rows[i].label.c_str(), rows[0].wall / rows[i].wall,
                rows[0].wall / rows[i].wall >= 1 ? " (faster)" : " (slower)");
  bool bad = false;
  for (const Row& r : rows) bad = bad || r.bad > 0;
  return bad ? 1 : 0;
}
