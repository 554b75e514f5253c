#include "pipeline/device_stages.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "dsp/block_iir.h"

namespace voxprep {
namespace {

// Uploads a design's table once per stage (device memory from the worker's pool).
void upload_table(Device& d, const ResamplerDesign& design, DeviceArray<double>& table) {
  const AlignedVector<double>& coefficients = design.table();
  double* t = table.ensure(coefficients.size());
  d.upload(t, coefficients.data(), coefficients.size() * sizeof(double));
}

}  // namespace

DeviceSignalStage::DeviceSignalStage(Device& device, int rate_in, int rate_out, const Options& options)
    : device_(device),
      rate_in_(rate_in),
      rate_out_(rate_out),
      options_(options),
      slicer_(SlicerSpec::for_rate(rate_out)),
      table_(device, false), in_(device, false), sig_{DeviceArray<double>(device, false), DeviceArray<double>(device, false)},
      ends_(device, false), starts_(device, false), state_(device, false), frames_dev_(device, false),
      item_(device, false), host_out_(device, true), host_frames_(device, true) {
  if (rate_in <= 0 || rate_out <= 0) throw std::invalid_argument("sample rate must be positive");
  if (rate_in != rate_out) {
    design_ = ResamplerDesign::get(rate_in, rate_out);
    if (!design_->tabulated()) {
      // Too many phases to tabulate: evaluating the window per output is CPU work.
      host_resampler_.emplace(rate_in, rate_out);
      note_ = "resampled " + std::to_string(rate_in) + " -> " + std::to_string(rate_out) +
              " Hz on the CPU: this rate pair has too many phases for the GPU's table";
      design_.reset();
    } else {
      upload_table(device, *design_, table_);
    }
  }
  if (options.highpass) {
    highpass_ = HighpassDesign::butterworth(double(rate_out));
    for (const auto& s : highpass_->sections) transitions_.push_back(biquad_block_transition(s, options.block));
  }
  reset();
}

void DeviceSignalStage::reset() {
  n_in_ = n_out_ = frames_done_ = pending_ = history_ = 0;
  finished_ = false;
  if (host_resampler_) host_resampler_->reset();
  buf_.clear();
  const int lead = design_ ? design_->lead : 0;
  buf_.assign(size_t(lead), 0.0);  // the signal is zero before its first sample
  buf_base_ = -lead;
  double* st = state_.ensure(2 * HighpassSpec::kSections);
  const double zeros[2 * HighpassSpec::kSections] = {};
  device_.upload(st, zeros, sizeof zeros);
  device_.synchronize();
}

template <class Out>
void DeviceSignalStage::push(const double* in, size_t n, Out& out, std::vector<double>* frames) {
  if (finished_) throw std::logic_error("push after finish");
  if (host_resampler_) {
    const size_t at = buf_.size();
    std::vector<double> tmp;
    host_resampler_->push(in, n, tmp);
    buf_.insert(buf_.end(), tmp.begin(), tmp.end());
    n_in_ += int64_t(tmp.size());
    pending_ += int64_t(buf_.size() - at);
  } else {
    buf_.insert(buf_.end(), in, in + n);
    n_in_ += int64_t(n);
    pending_ += int64_t(n);
  }
  if (pending_ >= options_.chunk_input) run(false, out, frames);
}

template <class Out>
void DeviceSignalStage::finish(Out& out, std::vector<double>* frames) {
  if (host_resampler_) {
    std::vector<double> tmp;
    host_resampler_->finish(tmp);
    buf_.insert(buf_.end(), tmp.begin(), tmp.end());
    n_in_ += int64_t(tmp.size());
  }
  run(true, out, frames);
  finished_ = true;
}

template <class Out>
void DeviceSignalStage::run(bool last, Out& out, std::vector<double>* frames) {
  pending_ = 0;
  // Which outputs this run computes: every one the input determines (the CPU resampler's
  // rule), and at the end the reference's computed length, then zeros up to its length.
  int64_t limit, target = n_in_;
  if (design_) {
    const ResamplerDesign& d = *design_;
    if (last) {
      target = resampled_length(n_in_, rate_in_, rate_out_);
      limit = std::min(target, computed_length(n_in_, rate_in_, rate_out_));
      buf_.insert(buf_.end(), size_t(d.taps + 1), 0.0);
    } else {
      const int64_t last_needed = n_in_ - 1 - d.half;
      limit = last_needed < 0 ? 0 : (last_needed * d.up) / d.down + 1;
    }
  } else {
    limit = n_in_;
    target = n_in_;
  }
  const int64_t computed = std::max<int64_t>(limit - n_out_, 0);
  const int64_t count = (last ? target : limit) - n_out_;
  if (count <= 0) return;

  // The output signal goes after the frames' history in sig_[current_]; growing it must
  // keep that history, so a larger array takes the history over.
  if (sig_[current_].capacity() < size_t(history_ + count)) {
    const int other = 1 - current_;
    double* bigger = sig_[other].ensure(size_t(history_ + count));
    if (history_ > 0) device_.copy(bigger, sig_[current_].data(), size_t(history_) * sizeof(double));
    current_ = other;
  }
  double* sig = sig_[current_].data();
  double* y = sig + history_;
  if (design_ && computed > 0) {
    const ResamplerDesign& d = *design_;
    long long j_first, j_last, phase;
    kernels::polyphase_position(n_out_, d.up, d.down, &j_first, &phase);
    kernels::polyphase_position(n_out_ + computed - 1, d.up, d.down, &j_last, &phase);
    const int64_t from = j_first - d.lead + 1, to = j_last - d.lead + 1 + d.taps;
    double* in = in_.ensure(size_t(to - from));
    device_.upload(in, buf_.data() + (from - buf_base_), size_t(to - from) * sizeof(double));
    const batch::ResampleItem item{0, from, 0, n_out_, computed};
    batch::ResampleItem* items = item_.ensure(1);
    device_.upload(items, &item, sizeof item);
    device_.resample(batch::ResampleLaunch{table_.data(), d.taps, d.lead, d.up, d.down, items, 1, in, y, computed});
  } else if (!design_) {
    device_.upload(y, buf_.data() + (n_out_ - buf_base_), size_t(count) * sizeof(double));
  }
  if (count > computed && design_) {
    const std::vector<double> zeros(size_t(count - computed), 0.0);
    device_.upload(y + computed, zeros.data(), zeros.size() * sizeof(double));
  }
  if (highpass_) {
    const long long blocks = (count + options_.block - 1) / options_.block;
    double* ends = ends_.ensure(size_t(2 * blocks));
    double* starts = starts_.ensure(size_t(2 * blocks));
    for (int s = 0; s < HighpassSpec::kSections; ++s) {
      device_.biquad_blocks(highpass_->sections[size_t(s)], transitions_[size_t(s)].data(), y, count, options_.block,
                            ends, starts, state_.data() + 2 * s);
    }
  }
  const int64_t total = n_out_ + count;
  int64_t new_frames = 0;
  if (options_.frames) {
    // Frames lying wholly within the output so far: t·hop − win/2 + win ≤ total.
    const int64_t pad = slicer_.win / 2, reach = total + pad - slicer_.win;
    const int64_t ready = reach < 0 ? 0 : reach / slicer_.hop + 1;
    new_frames = std::max<int64_t>(ready - frames_done_, 0);
    if (new_frames > 0) {
      double* f = frames_dev_.ensure(size_t(new_frames));
      device_.rms_frames(batch::RmsLaunch{sig, n_out_ - history_, total, frames_done_, new_frames, slicer_.hop, f});
    }
  }
  double* host = host_out_.ensure(size_t(count));
  device_.download(host, y, size_t(count) * sizeof(double));
  double* host_frames = nullptr;
  if (new_frames > 0) {
    host_frames = host_frames_.ensure(size_t(new_frames));
    device_.download(host_frames, frames_dev_.data(), size_t(new_frames) * sizeof(double));
  }
  if (options_.frames) {
    // Keep what the next frames need (from the next frame's first sample on) at the front
    // of the other buffer.
    const int64_t next_first = std::max<int64_t>((frames_done_ + new_frames) * slicer_.hop - slicer_.win / 2, 0);
    const int64_t keep_from = std::min(next_first, total);
    const int64_t keep = total - keep_from;
    const int other = 1 - current_;
    double* dst = sig_[other].ensure(size_t(keep + options_.chunk_input));
    if (keep > 0) device_.copy(dst, sig + (keep_from - (n_out_ - history_)), size_t(keep) * sizeof(double));
    current_ = other;
    history_ = keep;
  }
  device_.synchronize();
  append_samples(out, host, size_t(count));
  if (frames && new_frames > 0) frames->insert(frames->end(), host_frames, host_frames + new_frames);
  frames_done_ += new_frames;
  n_out_ = total;

  // Drop input no later output can reach.
  if (design_) {
    const int64_t keep_from = (n_out_ * design_->down) / design_->up - design_->lead + 1;
    const int64_t drop = keep_from - buf_base_;
    if (drop > 0 && !last) {
      buf_.erase(buf_.begin(), buf_.begin() + drop);
      buf_base_ += drop;
    }
  } else {
    buf_.erase(buf_.begin(), buf_.begin() + (n_out_ - buf_base_));
    buf_base_ = n_out_;
  }
}

template void DeviceSignalStage::push(const double*, size_t, std::vector<double>&, std::vector<double>*);
template void DeviceSignalStage::push(const double*, size_t, SampleBuffer&, std::vector<double>*);
template void DeviceSignalStage::finish(std::vector<double>&, std::vector<double>*);
template void DeviceSignalStage::finish(SampleBuffer&, std::vector<double>*);

DeviceSegmentBatch::DeviceSegmentBatch(Device& device, int rate, int rate16k, Done done, Failed failed)
    : device_(device), rate_(rate), rate16k_(rate16k), done_(std::move(done)), failed_(std::move(failed)),
      table_(device, false), in_(device, false), out_(device, false), host_in_(device, true), host_out_(device, true),
      resample_items_(device, false), norm_items_(device, false), norm_starts_(device, false) {
  if (rate != rate16k) {
    design_ = ResamplerDesign::get(rate, rate16k);
    // Too many phases to tabulate (a target rate such as 44101 Hz): the CPU resamples.
    if (!design_->tabulated()) host_resample_ = true;
    else upload_table(device, *design_, table_);
  }
}

void DeviceSegmentBatch::drop(void* tag) {
  // Their samples stay in staged_ unused until the batch runs.
  items_.erase(std::remove_if(items_.begin(), items_.end(), [tag](const Item& it) { return it.tag == tag; }), items_.end());
  if (items_.empty()) staged_.clear();
}

void DeviceSegmentBatch::add(void* tag, const std::string& name, const double* x, size_t n, double peak) {
  const size_t lead = design_ ? size_t(design_->lead) : 0, tail = design_ ? size_t(design_->taps + 1) : 0;
  staged_.insert(staged_.end(), lead, 0.0);
  items_.push_back(Item{tag, name, staged_.size(), n, peak});
  staged_.insert(staged_.end(), x, x + n);
  staged_.insert(staged_.end(), tail, 0.0);
  if (staged_.size() >= kBatchSamples) flush();
}

void DeviceSegmentBatch::flush() {
  // Taken out first: whatever happens below, no segment stays to be run again later (its
  // file may be gone by then).
  std::vector<Item> items;
  std::vector<double> staged;
  items.swap(items_);
  staged.swap(staged_);
  if (items.empty()) return;
  try {
    run(items, staged);
  } catch (const std::exception& e) {
    for (const Item& it : items) failed_(it.tag, e.what());
    throw;
  }
}

void DeviceSegmentBatch::run(const std::vector<Item>& queued, const std::vector<double>& samples) {
  const size_t total_in = samples.size();
  double* host_in = host_in_.ensure(total_in);
  std::memcpy(host_in, samples.data(), total_in * sizeof(double));
  double* in = in_.ensure(total_in);
  device_.upload(in, host_in, total_in * sizeof(double));

  // Post normalization, each segment by its own peak.
  std::vector<batch::NormalizeItem> norm;
  std::vector<long long> starts;
  long long norm_total = 0;
  for (const Item& it : queued) {
    if (it.peak <= 0 || it.n == 0) continue;
    norm.push_back(batch::NormalizeItem{(long long)it.offset, (long long)it.n, it.peak});
    starts.push_back(norm_total);
    norm_total += (long long)it.n;
  }
  if (!norm.empty()) {
    batch::NormalizeItem* ni = norm_items_.ensure(norm.size());
    long long* ns = norm_starts_.ensure(starts.size());
    device_.upload(ni, norm.data(), norm.size() * sizeof(norm[0]));
    device_.upload(ns, starts.data(), starts.size() * sizeof(starts[0]));
    device_.normalize(batch::NormalizeLaunch{ni, int(norm.size()), in, norm_total, ns});
    device_.download(host_in, in, total_in * sizeof(double));
  }

  // Every segment's 16 kHz outputs in one launch.
  device_.count_segment_batch();
  std::vector<batch::ResampleItem> items;
  std::vector<int64_t> targets;
  long long total_out = 0;
  for (const Item& it : queued) {
    const int64_t n = int64_t(it.n);
    const int64_t target = design_ ? resampled_length(n, rate_, rate16k_) : n;
    const int64_t computed = design_ ? std::min(target, computed_length(n, rate_, rate16k_)) : 0;
    items.push_back(batch::ResampleItem{(long long)it.offset, 0, total_out, 0, computed});
    targets.push_back(target);
    total_out += computed;
  }
  double* host_out = nullptr;
  if (design_ && total_out > 0 && !host_resample_) {
    const ResamplerDesign& d = *design_;
    batch::ResampleItem* ri = resample_items_.ensure(items.size());
    device_.upload(ri, items.data(), items.size() * sizeof(items[0]));
    double* out = out_.ensure(size_t(total_out));
    device_.resample(batch::ResampleLaunch{table_.data(), d.taps, d.lead, d.up, d.down, ri, int(items.size()), in, out,
                                           total_out});
    host_out = host_out_.ensure(size_t(total_out));
    device_.download(host_out, out, size_t(total_out) * sizeof(double));
  }
  device_.synchronize();

  std::vector<double> at16k;
  for (size_t i = 0; i < queued.size(); ++i) {
    const Item& it = queued[i];
    const double* x = host_in + it.offset;
    if (host_resample_) {
      at16k = resample(x, it.n, rate_, rate16k_);
      done_(it.tag, it.name, x, it.n, at16k.data(), at16k.size());
    } else if (design_) {
      at16k.assign(host_out + items[i].out_offset, host_out + items[i].out_offset + items[i].count);
      at16k.resize(size_t(targets[i]), 0.0);
      done_(it.tag, it.name, x, it.n, at16k.data(), at16k.size());
    } else {
      done_(it.tag, it.name, x, it.n, x, it.n);
    }
  }
}

// ---- noise reduction --------------------------------------------------------------------

DeviceSpectralGate::DeviceSpectralGate(Device& device, const DenoiseDesign& design)
    : device_(device), d_(design), stride_((batch::kGateBins + 7) / 8 * 8),
      consts_(device, false), x_(device, false), re_(device, false), im_(device, false), level_(device, false),
      smooth_(device, false), frames_(device, false), out_(device, false), host_out_(device, true) {
  // The window's constants in one array: analysis and synthesis windows, the overlap norm,
  // the twiddles, the smoothing taps.
  std::vector<double> c;
  c.insert(c.end(), d_.analysis_window.begin(), d_.analysis_window.end());
  c.insert(c.end(), d_.synthesis_window.begin(), d_.synthesis_window.end());
  c.insert(c.end(), d_.overlap_norm.begin(), d_.overlap_norm.end());
  constexpr double kTwoPi = 6.28318530717958647692;
  for (int m = 0; m < batch::kGateFft / 2; ++m) c.push_back(std::cos(kTwoPi * m / batch::kGateFft));
  for (int m = 0; m < batch::kGateFft / 2; ++m) c.push_back(-std::sin(kTwoPi * m / batch::kGateFft));
  c.insert(c.end(), d_.time_taps.begin(), d_.time_taps.end());
  c.insert(c.end(), d_.freq_taps.begin(), d_.freq_taps.end());
  double* dev = consts_.ensure(c.size());
  device_.upload(dev, c.data(), c.size() * sizeof(double));
  device_.synchronize();
}

void DeviceSpectralGate::run(const double* x, int64_t len, int64_t from, int64_t count, double* out) {
  if (count <= 0) return;
  const GateFrames g = GateFrames::of(d_, len, from, count);
  const size_t cells = size_t(g.frames) * size_t(stride_);
  const size_t rows = size_t(g.t_hi - g.t_lo + 1);
  batch::GateLaunch p{};
  p.len = len;
  p.from = from;
  p.count = count;
  p.frames = g.frames;
  p.t_lo = g.t_lo;
  p.t_hi = g.t_hi;
  p.m_lo = g.m_lo;
  p.m_hi = g.m_hi;
  p.stride = stride_;
  double* xd = x_.ensure(size_t(len));
  device_.upload(xd, x, size_t(len) * sizeof(double));
  p.x = xd;
  p.re = re_.ensure(cells);
  p.im = im_.ensure(cells);
  p.level = level_.ensure(cells);
  p.smooth = smooth_.ensure(rows * size_t(stride_));
  p.frames_out = frames_.ensure(rows * batch::kGateFft);
  p.out = out_.ensure(size_t(count));
  const double* c = consts_.data();
  p.analysis_window = c;
  p.synthesis_window = c + batch::kGateFft;
  p.overlap_norm = c + 2 * batch::kGateFft;
  p.tw_re = p.overlap_norm + DenoiseSpec::kHop;
  p.tw_im = p.tw_re + batch::kGateFft / 2;
  p.time_taps = p.tw_im + batch::kGateFft / 2;
  p.freq_taps = p.time_taps + d_.time_taps.size();
  p.gt = d_.time_half;
  p.gf = d_.freq_half;
  p.b = d_.floor_b;
  p.one_minus_b = 1.0 - d_.floor_b;
  p.strength = d_.strength;
  device_.spectral_gate(p);
  double* host = host_out_.ensure(size_t(count));
  device_.download(host, p.out, size_t(count) * sizeof(double));
  device_.synchronize();
  std::copy(host, host + count, out);
}

Denoiser::MakeGate DeviceSpectralGate::on(Device& device) {
  return [&device](const DenoiseDesign& d) -> std::unique_ptr<WindowGate> {
    return std::make_unique<DeviceSpectralGate>(device, d);
  };
}

}  // namespace voxprep
