#include "trace_recorder.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

/// Synthetic tracks (copy lanes, streams) start above any kernel thread id
/// (pid_max is at most 2^22), so they never share a real thread's track.
constexpr std::uint32_t kFirstTrack = 0x40000000;

/// Microseconds with nanosecond decimals, the unit of "ts" and "dur".
int print_us(char* out, std::size_t n, std::uint64_t ns) {
  return std::snprintf(out, n, "%llu.%03llu", static_cast<unsigned long long>(ns / 1000),
                       static_cast<unsigned long long>(ns % 1000));
}

}  // namespace

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::uint32_t this_thread_id() noexcept {
  thread_local const auto tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
  return tid;
}

void trace_recorder::free_deleter::operator()(event* e) const noexcept { std::free(e); }

trace_recorder::trace_recorder(const std::string& path, std::size_t capacity)
    : path_(path),
      origin_ns_(now_ns()),
      pid_(static_cast<std::uint32_t>(::getpid())),
      capacity_(capacity),
      next_track_(kFirstTrack) {
  fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd_) throw system_error(errno, "UMPAGER_TRACE: cannot open trace file '" + path + "' for writing");
  events_.reset(static_cast<event*>(std::calloc(capacity_, sizeof(event))));
  if (!events_) throw out_of_memory("UMPAGER_TRACE: no memory for " + std::to_string(capacity_) + " trace events");
  names_.emplace_back(0, "faulting thread (id unknown: no UFFD_FEATURE_THREAD_ID)");
}

trace_recorder::~trace_recorder() { finish(); }

trace_recorder::event* trace_recorder::claim() noexcept {
  const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
  if (i >= capacity_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return events_.get() + i;
}

void trace_recorder::fill(event* e, const char* name, const char* cat, const char* arg_name, std::uint64_t ts,
                          std::uint64_t dur, std::uint64_t arg, std::uint32_t tid, char ph) noexcept {
  // Field by field: `ready` is read concurrently by finish and written only here.
  e->name = name;
  e->cat = cat;
  e->arg_name = arg_name;
  e->ts = ts;
  e->dur = dur;
  e->arg = arg;
  e->tid = tid;
  e->ph = ph;
  std::atomic_ref<std::uint8_t>(e->ready).store(1, std::memory_order_release);
}

void trace_recorder::complete(const char* name, const char* cat, std::uint32_t tid, std::uint64_t start_ns,
                              std::uint64_t end_ns, const char* arg_name, std::uint64_t arg) noexcept {
  event* e = claim();
  if (e == nullptr) return;
  fill(e, name, cat, arg_name, start_ns, end_ns > start_ns ? end_ns - start_ns : 0, arg, tid, 'X');
}

void trace_recorder::counter(const char* name, std::uint64_t value, std::uint64_t at_ns) noexcept {
  event* e = claim();
  if (e == nullptr) return;
  fill(e, name, "counter", "bytes", at_ns, 0, value, 0, 'C');
}

std::uint32_t trace_recorder::add_track(const std::string& label) {
  std::lock_guard g(tracks_mutex_);
  const std::uint32_t id = next_track_++;
  names_.emplace_back(id, label);
  return id;
}

std::uint32_t trace_recorder::stream_track(const void* key) {
  {
    std::lock_guard g(tracks_mutex_);
    if (auto it = streams_.find(key); it != streams_.end()) return it->second;
  }
  char label[64];
  std::snprintf(label, sizeof(label), "stream %p", key);
  const std::uint32_t id = add_track(label);
  std::lock_guard g(tracks_mutex_);
  return streams_.emplace(key, id).first->second;  // a racing caller's track wins; ours stays empty
}

void trace_recorder::name_thread(std::uint32_t tid, const std::string& label) {
  std::lock_guard g(tracks_mutex_);
  names_.emplace_back(tid, label);
}

void trace_recorder::enqueued_copy(const char* name, const void* stream_key, std::uint64_t bytes) {
  const std::uint64_t now = now_ns();
  complete(name, "copy", stream_track(stream_key), now, now, "bytes", bytes);
}

std::function<void()> trace_recorder::traced_launch(std::function<void()> fn, const void* stream_key) {
  const std::uint32_t track = stream_track(stream_key);
  return [this, track, fn = std::move(fn)] {
    struct span {
      trace_recorder& t;
      std::uint32_t track;
      std::uint64_t start = now_ns();
      ~span() { t.complete("launch", "launch", track, start, now_ns()); }
    } s{*this, track};
    fn();
  };
}

void trace_recorder::sample(const char* name, std::function<std::uint64_t()> fn) {
  sample_name_ = name;
  sample_fn_ = std::move(fn);
  sample_once();
  sampler_ = std::thread([this] {
    std::unique_lock g(sample_mutex_);
    while (!sample_cv_.wait_for(g, std::chrono::milliseconds(1), [this] { return stopping_; })) sample_once();
  });
}

void trace_recorder::sample_now() noexcept {
  if (!sample_fn_ || finished_.load()) return;
  std::lock_guard g(sample_mutex_);
  sample_once();
}

void trace_recorder::sample_once() noexcept {
  std::uint64_t v = 0;
  try {
    v = sample_fn_();
  } catch (...) {
    return;
  }
  // Under sample_mutex_ (the sampler holds it between waits), or before the sampler starts.
  if (v == last_sample_) return;
  last_sample_ = v;
  counter(sample_name_, v, now_ns());
}

void trace_recorder::finish() noexcept {
  if (finished_.exchange(true)) return;
  if (sampler_.joinable()) {
    {
      std::lock_guard g(sample_mutex_);
      stopping_ = true;
    }
    sample_cv_.notify_all();
    sampler_.join();
  }
  if (sample_fn_) {
    std::lock_guard g(sample_mutex_);
    last_sample_ = ~std::uint64_t{0};  // the last value always shows
    sample_once();
  }
  write_all();
}

void trace_recorder::write_all() noexcept {
  try {
    std::string out;
    out.reserve(std::size_t{1} << 20);
    bool ok = true;
    auto flush = [&](bool force) {
      if (!ok || (!force && out.size() < (std::size_t{1} << 20))) return;
      for (std::size_t done = 0; done < out.size();) {
        const ssize_t n = ::write(fd_.get(), out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          std::fprintf(stderr, "umpager: writing trace file '%s' failed: %s\n", path_.c_str(),
                       n < 0 ? std::strerror(errno) : "no space written");
          ok = false;
          return;
        }
        done += static_cast<std::size_t>(n);
      }
      out.clear();
    };
    char line[512];
    out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    std::snprintf(line, sizeof(line),
                  "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"tid\":0,\"args\":{\"name\":\"umpager (pid %u)\"}}",
                  pid_, pid_);
    out += line;
    {
      std::lock_guard g(tracks_mutex_);
      for (const auto& [tid, label] : names_) {
        std::snprintf(line, sizeof(line),
                      ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":\"%s\"}}",
                      pid_, tid, label.c_str());
        out += line;
      }
    }
    const std::size_t used = std::min(next_.load(std::memory_order_relaxed), capacity_);
    std::uint64_t unfinished = 0;
    for (std::size_t i = 0; i < used; ++i) {
      event& e = events_.get()[i];
      // Claimed but not yet written (a launch still running at shutdown): left out.
      if (std::atomic_ref<std::uint8_t>(e.ready).load(std::memory_order_acquire) == 0) {
        ++unfinished;
        continue;
      }
      char ts[32], dur[32];
      print_us(ts, sizeof(ts), e.ts >= origin_ns_ ? e.ts - origin_ns_ : 0);
      int n = 0;
      if (e.ph == 'C') {
        n = std::snprintf(line, sizeof(line),
                          ",\n{\"ph\":\"C\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%u,\"tid\":0,\"ts\":%s,\"args\":{\"%s\":%llu}}",
                          e.name, e.cat, pid_, ts, e.arg_name, static_cast<unsigned long long>(e.arg));
      } else {
        print_us(dur, sizeof(dur), e.dur);
        n = std::snprintf(line, sizeof(line),
                          ",\n{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%u,\"tid\":%u,\"ts\":%s,\"dur\":%s", e.name,
                          e.cat, pid_, e.tid, ts, dur);
        if (e.arg_name != nullptr && n > 0 && static_cast<std::size_t>(n) < sizeof(line)) {
          n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n), ",\"args\":{\"%s\":%llu}", e.arg_name,
                             static_cast<unsigned long long>(e.arg));
        }
        if (n > 0 && static_cast<std::size_t>(n) + 1 < sizeof(line)) {
          line[n++] = '}';
          line[n] = '\0';
        }
      }
      out += line;
      flush(false);
    }
    std::snprintf(line, sizeof(line), "\n],\"otherData\":{\"dropped_events\":%llu,\"unfinished_events\":%llu}}\n",
                  static_cast<unsigned long long>(dropped()), static_cast<unsigned long long>(unfinished));
    out += line;
    flush(true);
    if (dropped() > 0) {
      std::fprintf(stderr, "umpager: trace '%s' is missing %llu events (the recorder holds %zu)\n", path_.c_str(),
                   static_cast<unsigned long long>(dropped()), capacity_);
    }
  } catch (...) {
    std::fprintf(stderr, "umpager: out of memory writing trace file '%s'\n", path_.c_str());
  }
}

}  // namespace umpager::detail
