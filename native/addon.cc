// The Node-API surface, nothing else: converts between JavaScript values and the core's
// types, and runs batches off the main thread.
#include <napi.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "dsp/highpass.h"
#include "dsp/resampler.h"
#include "dsp/segmenter.h"
#include "dsp/slicer.h"
#include "engine/engine.h"
#include "io/file_hash.h"
#include "pipeline/output_layout.h"

namespace {

using namespace voxprep;

const char* status_name(FileStatus s) {
  switch (s) {
    case FileStatus::kOk: return "ok";
    case FileStatus::kRejected: return "rejected";
    case FileStatus::kSkipped: return "skipped";
    default: return "failed";
  }
}

// A file's size and checksum as the run manifest holds them: { size, xxh64 (16 hex digits) }.
Napi::Object checksum_to_js(Napi::Env env, const FileChecksum& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", double(c.size));
  o.Set("xxh64", xxh64_hex(c.xxh64));
  return o;
}

// What the addon keeps per JavaScript environment (main thread or worker thread).
struct AddonData {
  // lib/native.ts's fileResult: makes a file's result object from its values, in to_js's order.
  Napi::FunctionReference file_result;
};

AddonData& addon_data(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) {
    d = new AddonData();
    env.SetInstanceData(d);  // deleted with the environment
  }
  return *d;
}

// setResultFactory(fileResult): what processBatch makes each file's result with.
Napi::Value SetResultFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setResultFactory(function)");
  addon_data(info.Env()).file_result = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// A file's result, made by lib/native.ts's fileResult from its values: one call into
// JavaScript, where the object is a literal. Set property by property through Node-API (some
// forty a file, each a slow-path store into a new object), a result cost the main thread
// some 8 us, a sixth of its time on a folder of short clips. The order of the values is
// fileResult's parameters'; the optional ones are undefined when absent.
Napi::Value to_js(Napi::Env env, const FileResult& r) {
  const napi_value none = env.Undefined();
  auto number = [&](double v) -> napi_value { return Napi::Number::New(env, v); };
  auto text = [&](const std::string& v) -> napi_value { return Napi::String::New(env, v); };
  auto boolean = [&](bool v) -> napi_value { return Napi::Boolean::New(env, v); };
  auto texts = [&](const std::vector<std::string>& v) -> napi_value {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), v[i]);
    return a;
  };
  // The outputs' checksums flat: path, size, XXH64 of each in turn.
  Napi::Array checksums = Napi::Array::New(env, 3 * r.checksums.size());
  for (size_t i = 0; i < r.checksums.size(); ++i) {
    checksums.Set(uint32_t(3 * i), r.checksums[i].file);
    checksums.Set(uint32_t(3 * i + 1), double(r.checksums[i].checksum.size));
    checksums.Set(uint32_t(3 * i + 2), xxh64_hex(r.checksums[i].checksum.xxh64));
  }
  const std::optional<FileChecksum>& in = r.input_checksum;
  const std::optional<FileStamp>& before = r.input_stamp;
  const std::optional<FileStamp>& after = r.input_stamp_after;
  const napi_value values[] = {
      text(status_name(r.status)),
      r.error.empty() ? none : text(r.error),
      boolean(r.write_error),
      boolean(r.loaded),
      number(double(r.samples)),
      number(r.seconds),
      number(r.input_rate),
      number(r.input_channels),
      number(r.input_bits),
      boolean(r.input_float),
      text(r.input_coding),
      number(double(r.input_frames)),
      number(r.peak),
      number(r.rms),
      number(r.silence_share),
      number(double(r.clipped_frames)),
      number(double(r.slices)),
      texts(r.slice_names),
      checksums,
      in ? number(double(in->size)) : none,
      in ? text(xxh64_hex(in->xxh64)) : none,
      before ? number(double(before->size)) : none,
      before ? text(std::to_string(before->mtime_ns)) : none,
      after ? number(double(after->size)) : none,
      after ? text(std::to_string(after->mtime_ns)) : none,
      texts(r.warnings),
      number(r.times.decode),
      number(r.times.resample),
      number(r.times.highpass),
      number(r.times.denoise),
      number(r.times.analysis),
      number(r.times.resample16k),
      number(r.times.write),
  };
  return addon_data(env).file_result.Call(env.Undefined(), std::size(values), values);
}

std::string get_string(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double get_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

DeviceRequest parse_device(const Napi::Object& o) {
  Napi::Value v = o.Get("device");
  if (v.IsUndefined()) return DeviceRequest::parse("cpu");
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), "device must be a string");
  try {
    return DeviceRequest::parse(v.As<Napi::String>().Utf8Value());
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(o.Env(), e.what());
  }
}

PipelineOptions parse_options(const Napi::Object& o) {
  PipelineOptions p;
  p.sample_rate = int(get_number(o, "sampleRate"));
  const std::string cut = get_string(o, "cut");
  if (cut == "skip") p.cut = CutMode::kSkip;
  else if (cut == "simple") p.cut = CutMode::kSimple;
  else if (cut == "automatic") p.cut = CutMode::kAutomatic;
  else throw Napi::TypeError::New(o.Env(), "cut must be automatic, simple or skip");
  p.highpass = o.Get("highpass").ToBoolean().Value();
  const std::string norm = get_string(o, "normalize");
  if (norm == "none") p.normalization = Normalization::kNone;
  else if (norm == "pre") p.normalization = Normalization::kPre;
  else if (norm == "post") p.normalization = Normalization::kPost;
  else throw Napi::TypeError::New(o.Env(), "normalize must be none, pre or post");
  p.chunk_seconds = get_number(o, "chunk");
  p.overlap_seconds = get_number(o, "overlap");
  // Noise reduction strength: absent or 0 for none.
  if (!o.Get("denoise").IsUndefined()) {
    p.denoise = get_number(o, "denoise");
    if (!(p.denoise >= 0 && p.denoise <= 1)) throw Napi::RangeError::New(o.Env(), "denoise must be from 0 to 1");
  }
  p.out_dir = get_string(o, "outDir");
  return p;
}

struct Progress {
  size_t index;
  FileResult result;
};

struct BatchContext {
  Napi::Promise::Deferred deferred;
  Napi::FunctionReference on_progress;
  Napi::Reference<Napi::Int32Array> stop;  // keeps the caller's stop flag alive
  explicit BatchContext(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

// A message through the batch's thread-safe function: a progress event, or the end of the
// batch (with every result when there is no progress callback to have had them). One queue
// keeps them in order, so the promise settles after the last progress event.
struct Message {
  size_t index = 0;
  FileResult result;
  std::vector<FileResult> all;
  bool end = false;
  std::string error;  // with end: the batch could not run (its device is unavailable)
};

void deliver(Napi::Env env, Napi::Function, BatchContext* ctx, Message* msg) {
  std::unique_ptr<Message> m(msg);
  if (env == nullptr) return;
  Napi::HandleScope scope(env);
  if (m->end && !m->error.empty()) {
    Napi::Error e = Napi::Error::New(env, m->error);
    e.Set("code", "EVOXPREP_DEVICE");
    ctx->deferred.Reject(e.Value());
    return;
  }
  if (m->end) {
    if (!ctx->on_progress.IsEmpty()) return ctx->deferred.Resolve(env.Undefined());
    Napi::Array arr = Napi::Array::New(env, m->all.size());
    for (size_t i = 0; i < m->all.size(); ++i) arr.Set(uint32_t(i), to_js(env, m->all[i]));
    ctx->deferred.Resolve(arr);
    return;
  }
  if (!ctx->on_progress.IsEmpty()) {
    ctx->on_progress.Call({Napi::Number::New(env, double(m->index)), to_js(env, m->result)});
  }
}

using BatchTsfn = Napi::TypedThreadSafeFunction<BatchContext, Message, deliver>;

// processBatch(jobs, options, threads, onProgress?, stop?) → Promise<results>, or, with
// onProgress, Promise<undefined>: each result then goes only to onProgress, as its file ends.
// `stop`: an Int32Array (on a SharedArrayBuffer) whose element 0 the caller sets with
// Atomics.store to 1 (start no new file) or 2 (abandon the files in flight too).
Napi::Value ProcessBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsObject() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "processBatch(jobs, options, threads, onProgress?)");
  }
  if (addon_data(env).file_result.IsEmpty()) {
    throw Napi::Error::New(env, "processBatch: no result factory (load the addon through lib/native.ts, which sets it)");
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  auto jobs = std::make_shared<std::vector<FileJob>>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object j = arr.Get(i).As<Napi::Object>();
    FileJob job{get_string(j, "path"), int64_t(get_number(j, "sid")), int64_t(get_number(j, "idx0")), {}};
    Napi::Value decoder = j.Get("decoder");
    if (decoder.IsArray()) {
      Napi::Array argv = decoder.As<Napi::Array>();
      for (uint32_t k = 0; k < argv.Length(); ++k) job.decoder.push_back(argv.Get(k).ToString().Utf8Value());
    }
    jobs->push_back(std::move(job));
  }
  auto options = std::make_shared<PipelineOptions>(parse_options(info[1].As<Napi::Object>()));
  const DeviceRequest request = parse_device(info[1].As<Napi::Object>());
  const int threads = info[2].As<Napi::Number>().Int32Value();

  auto* ctx = new BatchContext(env);
  if (info.Length() > 3 && info[3].IsFunction()) ctx->on_progress = Napi::Persistent(info[3].As<Napi::Function>());
  if (info.Length() > 4 && info[4].IsTypedArray() && info[4].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array stop = info[4].As<Napi::Int32Array>();
    if (stop.ElementLength() < 1) throw Napi::RangeError::New(env, "stop flag needs one element");
    ctx->stop = Napi::Persistent(stop);
    options->stop = stop.Data();
  }
  Napi::Promise promise = ctx->deferred.Promise();
  BatchTsfn tsfn = BatchTsfn::New(env, "voxprep.batch", 0, 1, ctx,
                                  [](Napi::Env, void*, BatchContext* c) { delete c; });
  const bool progress = !ctx->on_progress.IsEmpty();
  std::thread([tsfn, jobs, options, threads, request, progress]() mutable {
    Engine::OnDone on_done;
    if (progress) {
      on_done = [&](size_t index, FileResult&& r) { tsfn.BlockingCall(new Message{index, std::move(r), {}, false, {}}); };
    }
    auto* end = new Message();
    end->end = true;
    try {
      // Off the main thread: bringing up CUDA (once per process) can take a while.
      const DeviceChoice device = choose_device(request);
      end->all = Engine::instance().run_batch(*jobs, *options, threads, device, on_done);
    } catch (const DeviceUnavailable& e) {
      end->error = e.what();
    }
    tsfn.BlockingCall(end);
    tsfn.Release();
  }).detach();
  return promise;
}

// A Node-API async worker whose outcome settles a promise: the subclass resolves it in OnOK,
// an error (SetError) rejects it.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  // Queues the work on libuv's thread pool; the promise it settles.
  Napi::Promise start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 protected:
  Napi::Promise::Deferred deferred_;
};

// hashFile(path) → Promise<{ size, xxh64 }>: the manifest's checksum of one file, read and
// computed on libuv's thread pool. Rejects with the reason (the caller names the file).
class ChecksumWorker : public PromiseWorker {
 public:
  ChecksumWorker(Napi::Env env, std::string path) : PromiseWorker(env, "voxprep.hashFile"), path_(std::move(path)) {}
  void Execute() override {
    try {
      result_ = checksum_file(path_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(checksum_to_js(Env(), result_)); }

 private:
  std::string path_;
  FileChecksum result_;
};

Napi::Value HashFile(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "hashFile(path)");
  return (new ChecksumWorker(info.Env(), info[0].As<Napi::String>().Utf8Value()))->start();
}

// checkFiles(paths, sizes, xxh64s, mtimeNs) → Promise<Uint8Array>: for each file, 1 where
// file_matches (io/file_hash.h) says it is as recorded (mtimeNs[i]: a decimal string, or null
// not to compare), 2 where something else is there by its name (lstat), 0 where nothing is;
// run on libuv's thread pool, so that --resume and merge check a run's files with one call
// for many (one call and two stats through the pool for each file cost the main thread some
// 100 us a file).
class CheckFilesWorker : public PromiseWorker {
 public:
  struct Want {
    std::string path;
    FileChecksum checksum;
    std::optional<int64_t> mtime_ns;
    bool valid = true;  // the recorded values parsed (a bad one matches nothing)
  };
  CheckFilesWorker(Napi::Env env, std::vector<Want> wants) : PromiseWorker(env, "voxprep.checkFiles"), wants_(std::move(wants)) {}
  void Execute() override {
    verdicts_.resize(wants_.size());
    for (size_t i = 0; i < wants_.size(); ++i) {
      const Want& w = wants_[i];
      struct stat st;
      verdicts_[i] = w.valid && file_matches(w.path, w.checksum, w.mtime_ns) ? 1 : ::lstat(w.path.c_str(), &st) == 0 ? 2 : 0;
    }
  }
  void OnOK() override {
    Napi::Uint8Array out = Napi::Uint8Array::New(Env(), verdicts_.size());
    std::copy(verdicts_.begin(), verdicts_.end(), out.Data());
    deferred_.Resolve(out);
  }

 private:
  std::vector<Want> wants_;
  std::vector<uint8_t> verdicts_;
};

template <class T>
bool parse_whole(const std::string& text, T& value, int base) {
  const char* end = text.data() + text.size();
  auto [at, ec] = std::from_chars(text.data(), end, value, base);
  return ec == std::errc() && at == end && !text.empty();
}

// A size and a checksum as a record holds them (a count, 16 hex digits); empty if they are not.
std::optional<FileChecksum> recorded_checksum(const Napi::Value& size, const Napi::Value& xxh64) {
  const double bytes = size.ToNumber().DoubleValue();
  FileChecksum c;
  if (!(bytes >= 0 && bytes == std::floor(bytes)) || !parse_whole(xxh64.ToString().Utf8Value(), c.xxh64, 16)) return std::nullopt;
  c.size = uint64_t(bytes);
  return c;
}

// A call's four arguments as arrays of one length (checkFiles, copyFiles: a file's values
// at one index in each).
std::array<Napi::Array, 4> four_arrays(const Napi::CallbackInfo& info, const char* usage) {
  std::array<Napi::Array, 4> arrays;
  for (size_t k = 0; k < 4; ++k) {
    if (info.Length() <= k || !info[k].IsArray()) throw Napi::TypeError::New(info.Env(), usage);
    arrays[k] = info[k].As<Napi::Array>();
    if (arrays[k].Length() != arrays[0].Length()) {
      throw Napi::RangeError::New(info.Env(), std::string(usage) + ": the four arrays must be as long as one another");
    }
  }
  return arrays;
}

Napi::Value CheckFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto [paths, sizes, hashes, mtimes] = four_arrays(info, "checkFiles(paths, sizes, xxh64s, mtimeNs)");
  const uint32_t n = paths.Length();
  std::vector<CheckFilesWorker::Want> wants(n);
  for (uint32_t i = 0; i < n; ++i) {
    CheckFilesWorker::Want& w = wants[i];
    w.path = paths.Get(i).ToString().Utf8Value();
    const std::optional<FileChecksum> recorded = recorded_checksum(sizes.Get(i), hashes.Get(i));
    w.valid = recorded.has_value();
    if (recorded) w.checksum = *recorded;
    Napi::Value mtime = mtimes.Get(i);
    if (!mtime.IsNull() && !mtime.IsUndefined()) {
      int64_t ns = 0;
      w.valid = parse_whole(mtime.ToString().Utf8Value(), ns, 10) && w.valid;
      w.mtime_ns = ns;
    }
  }
  return (new CheckFilesWorker(env, std::move(wants)))->start();
}

// copyFiles(froms, tos, sizes, xxh64s) → Promise<string[]>: copy_verified (io/file_hash.h)
// for each file on libuv's thread pool; "" where it was copied, else the reason. (A copy, a
// checksum and a rename through the pool for each file cost `voxprep merge` about 50 us of
// the main thread a file.)
class CopyFilesWorker : public PromiseWorker {
 public:
  struct Copy {
    std::string from, to;
    FileChecksum want;
  };
  CopyFilesWorker(Napi::Env env, std::vector<Copy> copies) : PromiseWorker(env, "voxprep.copyFiles"), copies_(std::move(copies)) {}
  void Execute() override {
    reasons_.resize(copies_.size());
    for (size_t i = 0; i < copies_.size(); ++i) {
      try {
        copy_verified(copies_[i].from, copies_[i].to, copies_[i].want);
      } catch (const std::exception& e) {
        reasons_[i] = e.what();
      }
    }
  }
  void OnOK() override {
    Napi::Array out = Napi::Array::New(Env(), reasons_.size());
    for (size_t i = 0; i < reasons_.size(); ++i) out.Set(uint32_t(i), reasons_[i]);
    deferred_.Resolve(out);
  }

 private:
  std::vector<Copy> copies_;
  std::vector<std::string> reasons_;
};

Napi::Value CopyFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto [froms, tos, sizes, hashes] = four_arrays(info, "copyFiles(froms, tos, sizes, xxh64s)");
  const uint32_t n = froms.Length();
  std::vector<CopyFilesWorker::Copy> copies(n);
  for (uint32_t i = 0; i < n; ++i) {
    CopyFilesWorker::Copy& c = copies[i];
    c.from = froms.Get(i).ToString().Utf8Value();
    c.to = tos.Get(i).ToString().Utf8Value();
    const std::optional<FileChecksum> recorded = recorded_checksum(sizes.Get(i), hashes.Get(i));
    if (!recorded) throw Napi::TypeError::New(env, "copyFiles: a size is not a count, or a checksum not 16 hex digits");
    c.want = *recorded;
  }
  return (new CopyFilesWorker(env, std::move(copies)))->start();
}

Napi::Float64Array to_float64(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array out = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}

int positive_rate(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "sample rate must be a number");
  const int r = v.As<Napi::Number>().Int32Value();
  if (r <= 0) throw Napi::RangeError::New(v.Env(), "sample rate must be positive");
  return r;
}

// resample(samples: Float64Array, rateIn, rateOut) → Float64Array
Napi::Value Resample(const Napi::CallbackInfo& info) {
  Napi::Float64Array in = info[0].As<Napi::Float64Array>();
  return to_float64(info.Env(), resample(in.Data(), in.ElementLength(), positive_rate(info[1]), positive_rate(info[2])));
}

// highpass(samples: Float64Array, rate) → Float64Array
Napi::Value HighpassRun(const Napi::CallbackInfo& info) {
  Napi::Float64Array in = info[0].As<Napi::Float64Array>();
  std::vector<double> x(in.Data(), in.Data() + in.ElementLength());
  Highpass hp(positive_rate(info[1]));
  hp.process(x.data(), x.size());
  return to_float64(info.Env(), x);
}

// highpassDesign(rate) → { b, a }
Napi::Value HighpassCoefficients(const Napi::CallbackInfo& info) {
  const HighpassDesign d = HighpassDesign::butterworth(positive_rate(info[0]));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("b", to_float64(info.Env(), std::vector<double>(d.b.begin(), d.b.end())));
  o.Set("a", to_float64(info.Env(), std::vector<double>(d.a.begin(), d.a.end())));
  return o;
}

Napi::Object spec_to_js(Napi::Env env, const SlicerSpec& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("hop", double(s.hop));
  o.Set("win", double(s.win));
  o.Set("minLength", double(s.min_length));
  o.Set("minInterval", double(s.min_interval));
  o.Set("maxSilKept", double(s.max_sil_kept));
  o.Set("threshold", s.threshold);
  return o;
}

// slicerSpec(rate) → the slicer's parameters in samples and frames
Napi::Value SlicerParameters(const Napi::CallbackInfo& info) {
  return spec_to_js(info.Env(), SlicerSpec::for_rate(positive_rate(info[0])));
}

// slice(samples: Float64Array, rate) → { rms: Float64Array, chunks: [begin, end][] }
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float64Array in = info[0].As<Napi::Float64Array>();
  const SlicerSpec spec = SlicerSpec::for_rate(positive_rate(info[1]));
  RmsFramer framer(spec);
  framer.push(in.Data(), in.ElementLength());
  framer.finish();
  const auto chunks = slice_chunks(framer.frames(), int64_t(in.ElementLength()), spec);
  Napi::Array out = Napi::Array::New(env, chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    Napi::Array c = Napi::Array::New(env, 2);
    c.Set(0u, double(chunks[i].first));
    c.Set(1u, double(chunks[i].second));
    out.Set(uint32_t(i), c);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("rms", to_float64(env, framer.frames()));
  o.Set("chunks", out);
  return o;
}

// resampledLength(n, rateIn, rateOut) → the reference's length rule
Napi::Value ResampledLength(const Napi::CallbackInfo& info) {
  const int64_t n = int64_t(info[0].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(info.Env(), double(resampled_length(n, positive_rate(info[1]), positive_rate(info[2]))));
}

// sliceName(sid, idx0, idx1) → "<sid>_<idx0>_<idx1>.wav"
Napi::Value SliceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), OutputLayout::slice_name(int64_t(info[0].As<Napi::Number>().DoubleValue()),
                                                                int64_t(info[1].As<Napi::Number>().DoubleValue()),
                                                                int64_t(info[2].As<Napi::Number>().DoubleValue())));
}

Napi::Array strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), v[i]);
  return a;
}

Napi::Value EngineInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("defaultThreads", Engine::default_threads());
  o.Set("poolThreads", Engine::instance().pool_size());
  // What this build and this CPU offer the kernels.
  Napi::Object cpu = Napi::Object::New(env);
#if defined(__x86_64__)
  __builtin_cpu_init();
  cpu.Set("sse4_2", __builtin_cpu_supports("sse4.2") != 0);
  cpu.Set("avx2", __builtin_cpu_supports("avx2") != 0);
  cpu.Set("fma", __builtin_cpu_supports("fma") != 0);
  cpu.Set("avx512f", __builtin_cpu_supports("avx512f") != 0);
#endif
  o.Set("cpu", cpu);
  // What the build has, without bringing CUDA up (that is cudaProbe's and a run's job).
  const GpuStatus g = gpu_status(false);
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", g.compiled);
  cuda.Set("architectures", strings(env, g.architectures));
  o.Set("cuda", cuda);
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

Napi::Object choice_to_js(Napi::Env env, const DeviceChoice& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", c.backend == Backend::kCuda ? "cuda" : c.backend == Backend::kEmulate ? "emulate" : "cpu");
  o.Set("index", c.index);
  o.Set("name", c.name);
  o.Set("reason", c.reason);
  return o;
}

// resolveDevice(request) → { backend, index, name, reason }; throws (code EVOXPREP_DEVICE)
// when `cuda` is asked for and no usable GPU is there. Brings CUDA up (once) if it may be used.
Napi::Value ResolveDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "resolveDevice(request: string)");
  DeviceRequest request;
  try {
    request = DeviceRequest::parse(info[0].As<Napi::String>().Utf8Value());
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(env, e.what());
  }
  try {
    return choice_to_js(env, choose_device(request));
  } catch (const DeviceUnavailable& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", "EVOXPREP_DEVICE");
    throw err;
  }
}

// cudaProbe() → what the driver says: runs the engine's once-only CUDA initialization.
Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GpuStatus g = gpu_status(true);
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", g.compiled);
  o.Set("probed", g.probed);
  o.Set("driverVersion", g.probe.driver_version);
  o.Set("runtimeVersion", g.probe.runtime_version);
  Napi::Array devices = Napi::Array::New(env, g.probe.devices.size());
  for (size_t i = 0; i < g.probe.devices.size(); ++i) {
    const cuda::DeviceInfo& d = g.probe.devices[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("index", d.index);
    x.Set("name", d.name);
    x.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    x.Set("memoryBytes", double(d.memory));
    devices.Set(uint32_t(i), x);
  }
  o.Set("devices", devices);
  o.Set("usable", g.unusable.empty() && g.initializations > 0);
  o.Set("unusable", g.unusable);
  return o;
}

// engineCounters() → the engine's CUDA bookkeeping and what the GPU has done so far.
Napi::Value EngineCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GpuStatus g = gpu_status(false);
  const GpuCounters& c = gpu_counters();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cudaInitAttempts", g.init_attempts);
  o.Set("cudaInitializations", g.initializations);
  o.Set("initThread", g.init_thread.empty() ? env.Null() : Napi::String::New(env, g.init_thread));
  o.Set("activeDevice", g.active_device);
  o.Set("forkedChild", g.forked_child);
  o.Set("gpuUnusable", g.unusable);
  o.Set("bytesToDevice", double(c.bytes_to_device.load()));
  o.Set("bytesFromDevice", double(c.bytes_from_device.load()));
  o.Set("launches", double(c.launches.load()));
  o.Set("kernelSeconds", double(c.kernel_ns.load()) * 1e-9);
  o.Set("emulatedLaunches", double(c.emulated_launches.load()));
  o.Set("segmentBatches", double(c.segment_batches.load()));
  return o;
}

// forkRunForTest(jobs, options) → { exitCode, report }: forks this process, and in the child
// runs the jobs through the engine with options.device, then reports (one JSON line) what it
// ran on and how the files went. For the fork-safety test; the parent waits for the child.
Napi::Value ForkRunForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "forkRunForTest(jobs, options)");
  }
  std::vector<FileJob> jobs;
  Napi::Array arr = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object j = arr.Get(i).As<Napi::Object>();
    jobs.push_back(FileJob{get_string(j, "path"), int64_t(get_number(j, "sid")), int64_t(get_number(j, "idx0")), {}});
  }
  const PipelineOptions options = parse_options(info[1].As<Napi::Object>());
  const DeviceRequest request = parse_device(info[1].As<Napi::Object>());
  int fds[2];
  if (pipe(fds) != 0) throw Napi::Error::New(env, "pipe() failed");
  const pid_t pid = fork();
  if (pid < 0) throw Napi::Error::New(env, "fork() failed");
  if (pid == 0) {
    close(fds[0]);
    std::ostringstream out;
    int code = 0;
    try {
      const DeviceChoice device = choose_device(request);
      const auto results = Engine::instance().run_batch(jobs, options, 1, device, nullptr);
      const GpuStatus g = gpu_status(false);
      int64_t slices = 0;
      bool all_ok = true;
      for (const auto& r : results) {
        slices += r.slices;
        all_ok = all_ok && r.status == FileStatus::kOk;
      }
      out << "{\"device\":\"" << device.name << "\",\"forkedChild\":" << (g.forked_child ? "true" : "false")
          << ",\"gpuUsable\":" << (g.unusable.empty() ? "true" : "false") << ",\"allOk\":" << (all_ok ? "true" : "false")
          << ",\"slices\":" << slices << ",\"cudaInitializations\":" << g.initializations << "}";
    } catch (const std::exception& e) {
      out << "{\"error\":\"" << e.what() << "\"}";
      code = 1;
    }
    const std::string text = out.str();
    ssize_t ignored = write(fds[1], text.data(), text.size());
    (void)ignored;
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  // The child gets 120 s: a child that hangs (a pool that did not survive the fork) is killed
  // and reported, instead of blocking this thread, and the test, forever.
  int status = 0;
  bool killed = false;
  for (int waited_ms = 0;; waited_ms += 20) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (waited_ms >= 120000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      killed = true;
      break;
    }
    usleep(20000);
  }
  std::string report;
  char buf[4096];
  ssize_t got;
  while ((got = read(fds[0], buf, sizeof buf)) > 0) report.append(buf, size_t(got));
  close(fds[0]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("exitCode", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  o.Set("report", killed ? std::string("{\"error\":\"the child did not finish within 120 s\"}") : report);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("processBatch", Napi::Function::New(env, ProcessBatch));
  exports.Set("resample", Napi::Function::New(env, Resample));
  exports.Set("resampledLength", Napi::Function::New(env, ResampledLength));
  exports.Set("highpass", Napi::Function::New(env, HighpassRun));
  exports.Set("highpassDesign", Napi::Function::New(env, HighpassCoefficients));
  exports.Set("slicerSpec", Napi::Function::New(env, SlicerParameters));
  exports.Set("slice", Napi::Function::New(env, Slice));
  exports.Set("sliceName", Napi::Function::New(env, SliceName));
  exports.Set("engineInfo", Napi::Function::New(env, EngineInfo));
  exports.Set("resolveDevice", Napi::Function::New(env, ResolveDevice));
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbe));
  exports.Set("engineCounters", Napi::Function::New(env, EngineCounters));
  exports.Set("forkRunForTest", Napi::Function::New(env, ForkRunForTest));
  exports.Set("hashFile", Napi::Function::New(env, HashFile));
  exports.Set("checkFiles", Napi::Function::New(env, CheckFiles));
  exports.Set("copyFiles", Napi::Function::New(env, CopyFiles));
  exports.Set("setResultFactory", Napi::Function::New(env, SetResultFactory));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("slicedDir", OutputLayout::kSlicedDir);
  layout.Set("sliced16kDir", OutputLayout::kSliced16kDir);
  layout.Set("rate16k", OutputLayout::kRate16k);
  exports.Set("layout", layout);
  return exports;
}

}  // namespace

NODE_API_MODULE(voxprep, Init)
