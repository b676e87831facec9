// Observability: UMPAGER_STATS's summary, the fault wait percentiles, and the
// UMPAGER_TRACE file, parsed and checked against statistics().
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "json_reader.hpp"
#include "runtime_fixture.hpp"
#include "umpager/umpager.h"
#include "wait_histogram.hpp"

namespace umpager::testing {
namespace {

constexpr std::size_t kChunk = std::size_t{2} << 20;
constexpr std::size_t kSize = 4 * kChunk;  // twice the device budget below
constexpr int kReaders = 4;

std::uint32_t tid() { return static_cast<std::uint32_t>(::syscall(SYS_gettid)); }

std::string temp_file(const std::string& name) {
  return ::testing::TempDir() + "umpager_" + name + "_" + std::to_string(::getpid()) + ".json";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

config observed_config() {
  config cfg = make_config(65536, tracking_mode::automatic, 2 * kChunk);  // budget: two chunks
  cfg.readahead_bytes = 0;  // every reader's first touch of a device page faults on its own thread
  return cfg;
}

/// What the workload did besides what statistics() counts.
struct workload_result {
  std::set<std::uint32_t> reader_tids;
  std::uint32_t main_tid = 0;
  int prefetches = 0;
  int launches = 0;
  std::size_t wrong = 0;
};

/// Writes a pattern, prefetches both halves (the second evicts the first), launches
/// one function undeclared and one declaring the first half on a stream, then reads
/// everything back from kReaders threads at once.
workload_result run_workload(runtime& rt) {
  workload_result out;
  out.main_tid = tid();
  buffer buf = rt.allocate(kSize);
  auto* w = buf.as<std::uint32_t>();
  const std::size_t words = kSize / sizeof(std::uint32_t);
  for (std::size_t i = 0; i < words; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(buf.data(), kSize / 2, location::device);
  rt.prefetch(buf.as<char>() + kSize / 2, kSize / 2, location::device);
  out.prefetches = 2;
  std::atomic<int> ran{0};
  rt.launch([&ran] { ran.fetch_add(1); });
  // On a stream of its own: the evicted first half is uploaded stream-ordered.
  stream s = rt.create_stream();
  const access first_half{buf.data(), kSize / 2, access_mode::read};
  rt.launch([&ran] { ran.fetch_add(1); }, s, std::span<const access>(&first_half, 1));
  s.synchronize();
  rt.synchronize();
  out.launches = 2;
  out.wrong += ran.load() != 2;

  std::vector<std::thread> readers;
  std::vector<std::uint32_t> tids(kReaders);
  std::vector<std::size_t> bad(kReaders);
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      tids[t] = tid();
      const std::size_t per = words / kReaders;
      bad[t] = 0;
      for (std::size_t i = t * per; i < (t + 1) * per; ++i) bad[t] += w[i] != static_cast<std::uint32_t>(i);
    });
  }
  for (auto& r : readers) r.join();
  for (int t = 0; t < kReaders; ++t) {
    out.reader_tids.insert(tids[t]);
    out.wrong += bad[t];
  }
  return out;
}

template <class Factory>
class observability : public ::testing::Test {};
TYPED_TEST_SUITE(observability, driver_factories, factory_names);

TYPED_TEST(observability, fault_wait_percentiles_are_measured) {
  std::string why;
  auto rt = make_runtime<TypeParam>(observed_config(), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  EXPECT_EQ(rt->statistics().fault_wait_p50_ns, 0u) << "no fault yet";
  const workload_result r = run_workload(*rt);
  ASSERT_EQ(r.wrong, 0u);
  const stats s = rt->statistics();
  ASSERT_GT(s.read_faults, 0u);
  EXPECT_GT(s.fault_wait_p50_ns, 0u);
  EXPECT_GE(s.fault_wait_p99_ns, s.fault_wait_p50_ns);
  // A fault's wait includes its block's copy: never longer than the resolvers were busy.
  EXPECT_LE(s.fault_wait_p50_ns, s.resolver_busy_ns + s.resolver_busy_ns / 8);
}

TYPED_TEST(observability, stats_summary_is_printed_at_shutdown) {
  config cfg = observed_config();
  cfg.stats_summary = true;
  std::string why;
  auto rt = make_runtime<TypeParam>(cfg, &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  ASSERT_EQ(run_workload(*rt).wrong, 0u);
  const stats s = rt->statistics();
  ::testing::internal::CaptureStderr();
  rt->shutdown();
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(text.find("umpager statistics"), std::string::npos) << text;
  EXPECT_NE(text.find("read " + std::to_string(s.read_faults) + ","), std::string::npos) << text;
  EXPECT_NE(text.find(std::to_string(s.chunks_evicted) + " chunks"), std::string::npos) << text;
  for (const char* field : {"fault wait", "p50", "p99", "to host", "to device", "read-ahead", "poisoned",
                            "resolver busy", "storage", "read back", "spill failures", "host in use"}) {
    EXPECT_NE(text.find(field), std::string::npos) << field << " missing in:\n" << text;
  }
}

TYPED_TEST(observability, no_summary_unless_asked) {
  std::string why;
  auto rt = make_runtime<TypeParam>(observed_config(), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  ::testing::internal::CaptureStderr();
  rt->shutdown();
  EXPECT_EQ(::testing::internal::GetCapturedStderr().find("umpager statistics"), std::string::npos);
}

/// The trace's events, by what the test checks.
struct trace_summary {
  std::map<std::uint32_t, std::string> track_names;
  std::map<std::string, int> by_name;
  std::map<std::uint32_t, int> faults_by_tid;
  int faults = 0, launches_on_streams = 0, copies_on_lanes = 0, copies_on_streams = 0;
  std::uint64_t bytes_copied_to_host = 0, bytes_copied_to_device = 0;
  std::vector<double> device_bytes;  ///< the counter track's values
};

trace_summary read_trace(const std::string& path) {
  const json doc = json::parse(slurp(path));  // throws on invalid JSON
  trace_summary t;
  const auto& events = doc.at("traceEvents").items;
  for (const json& e : events) {
    if (e.at("ph").str == "M" && e.at("name").str == "thread_name") {
      t.track_names[static_cast<std::uint32_t>(e.at("tid").num)] = e.at("args").at("name").str;
    }
  }
  for (const json& e : events) {
    const std::string ph = e.at("ph").str;
    if (ph == "M") continue;
    const std::string name = e.at("name").str;
    EXPECT_GE(e.at("ts").num, 0.0);
    if (ph == "C") {
      EXPECT_EQ(name, "device bytes in use");
      t.device_bytes.push_back(e.at("args").at("bytes").num);
      continue;
    }
    // Complete events only: a begin without its end cannot occur.
    EXPECT_EQ(ph, "X") << name;
    EXPECT_GE(e.at("dur").num, 0.0) << name;
    ++t.by_name[name];
    const auto tid = static_cast<std::uint32_t>(e.at("tid").num);
    const std::string cat = e.at("cat").str;
    if (cat == "fault") {
      ++t.faults;
      ++t.faults_by_tid[tid];
    } else if (cat == "copy") {
      t.copies_on_lanes += t.track_names[tid].rfind("copy lane", 0) == 0;
      const auto bytes = static_cast<std::uint64_t>(e.at("args").at("bytes").num);
      if (name == "copy to host") t.bytes_copied_to_host += bytes;
      if (name == "copy to device") t.bytes_copied_to_device += bytes;
      t.copies_on_streams += t.track_names[tid].rfind("stream", 0) == 0;
    } else if (cat == "launch") {
      t.launches_on_streams += t.track_names[tid].rfind("stream", 0) == 0;
    }
  }
  return t;
}

TYPED_TEST(observability, trace_events_match_statistics) {
  const std::string path = temp_file(std::string("trace_") + TypeParam::name);
  config cfg = observed_config();
  cfg.trace_file = path;
  std::string why;
  auto rt = make_runtime<TypeParam>(cfg, &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  const workload_result r = run_workload(*rt);
  ASSERT_EQ(r.wrong, 0u);
  // Every message read is either served (by kind) or only woken (stale), never both; a
  // late duplicate may still be on a resolver when the readers are done: wait for it.
  auto accounted = [](const stats& x) { return x.read_faults + x.write_faults + x.wp_faults + x.stale_faults; };
  stats s = rt->statistics();
  for (const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       s.fault_messages != accounted(s) && std::chrono::steady_clock::now() < limit; s = rt->statistics()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(s.fault_messages, accounted(s));
  EXPECT_GT(s.fault_messages, 0u);
  rt->shutdown();  // writes the file

  const trace_summary t = read_trace(path);
  EXPECT_EQ(static_cast<std::uint64_t>(t.faults), s.read_faults + s.write_faults + s.wp_faults);
  ASSERT_GE(s.chunks_evicted, 1u);
  EXPECT_EQ(static_cast<std::uint64_t>(t.by_name.count("umpager evict") ? t.by_name.at("umpager evict") : 0),
            s.chunks_evicted);
  EXPECT_EQ(t.by_name.count("umpager prefetch to device") ? t.by_name.at("umpager prefetch to device") : 0,
            r.prefetches);
  EXPECT_EQ(t.by_name.count("umpager declare on device") ? t.by_name.at("umpager declare on device") : 0, 1);
  EXPECT_EQ(t.launches_on_streams, r.launches);
  EXPECT_EQ(t.bytes_copied_to_host, s.bytes_to_host);
  EXPECT_EQ(t.bytes_copied_to_device, s.bytes_to_device);
  EXPECT_GT(t.copies_on_lanes, 0);
  EXPECT_GT(t.copies_on_streams, 0) << "the declared launch's stream-ordered upload";
  // Faults sit on the faulting threads' tracks: every reader waited on its own.
  for (std::uint32_t reader : r.reader_tids) EXPECT_GT(t.faults_by_tid.count(reader), 0u) << "reader " << reader;
  for (const auto& [thread, n] : t.faults_by_tid) {
    EXPECT_TRUE(thread == r.main_tid || r.reader_tids.count(thread) != 0) << "fault on thread " << thread;
  }
  // The counter track shows the budget filled by the prefetches, and emptied at the end.
  ASSERT_FALSE(t.device_bytes.empty());
  EXPECT_EQ(*std::max_element(t.device_bytes.begin(), t.device_bytes.end()), static_cast<double>(2 * kChunk));
  EXPECT_EQ(t.device_bytes.back(), 0.0);
  if (!this->HasFailure()) std::remove(path.c_str());
}

TYPED_TEST(observability, unwritable_trace_file_fails_at_start) {
  config cfg = observed_config();
  cfg.trace_file = "/nonexistent-umpager-dir/trace.json";
  std::string why;
  auto d = TypeParam::make(&why);
  if (!d) GTEST_SKIP() << TypeParam::name << ": " << why;
  try {
    runtime rt(cfg, std::move(d));
    FAIL() << "runtime started with an unwritable trace file";
  } catch (const system_error& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-umpager-dir/trace.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("UMPAGER_TRACE"), std::string::npos) << e.what();
  }
}

class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
};

TEST(observability_config, variables_are_parsed_and_bad_values_named) {
  {
    scoped_env a("UMPAGER_STATS", "1"), b("UMPAGER_TRACE", "/tmp/x.json");
    const config c = config::from_env();
    EXPECT_TRUE(c.stats_summary);
    EXPECT_EQ(c.trace_file, "/tmp/x.json");
  }
  EXPECT_FALSE(config::from_env().stats_summary);
  EXPECT_TRUE(config::from_env().trace_file.empty());
  scoped_env bad("UMPAGER_STATS", "yes");
  try {
    (void)config::from_env();
    FAIL() << "UMPAGER_STATS=yes accepted";
  } catch (const invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("UMPAGER_STATS"), std::string::npos) << e.what();
  }
}

TEST(observability_config, c_api_round_trips_and_reports_a_bad_trace_path) {
  scoped_env a("UMPAGER_STATS", "1"), b("UMPAGER_TRACE", "/nonexistent-umpager-dir/t.json"), d("UMPAGER_DRIVER", "sim");
  umpager_config cfg;
  ASSERT_EQ(umpager_config_from_env(&cfg), 0) << umpager_last_error();
  EXPECT_EQ(cfg.stats_summary, 1);
  EXPECT_STREQ(cfg.trace_file, "/nonexistent-umpager-dir/t.json");
  umpager_runtime* rt = nullptr;
  EXPECT_EQ(umpager_runtime_create(&cfg, &rt), -ENOENT);
  EXPECT_EQ(rt, nullptr);
  EXPECT_NE(std::string(umpager_last_error()).find("UMPAGER_TRACE"), std::string::npos) << umpager_last_error();

  cfg.stats_summary = 0;
  cfg.trace_file[0] = '\0';
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  umpager_stats st;
  ASSERT_EQ(umpager_get_stats(rt, &st), 0);
  EXPECT_EQ(st.fault_wait_p50_ns, 0u);
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

TEST(wait_histogram, quantiles_are_within_a_bucket) {
  detail::wait_histogram h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1 us .. 1 ms, uniform
  detail::wait_histogram::counts c{};
  h.merge_into(c);
  const auto p50 = static_cast<double>(detail::wait_histogram::quantile(c, 0.50));
  const auto p99 = static_cast<double>(detail::wait_histogram::quantile(c, 0.99));
  EXPECT_NEAR(p50, 500e3, 500e3 * 0.13);
  EXPECT_NEAR(p99, 990e3, 990e3 * 0.13);
  for (std::uint64_t v : {0ull, 1ull, 3ull, 4ull, 7ull, 100ull, 12345ull, 1ull << 40, ~0ull}) {
    const int b = detail::wait_histogram::bucket(v);
    ASSERT_LT(b, detail::wait_histogram::kBuckets);
    EXPECT_NEAR(static_cast<double>(detail::wait_histogram::midpoint(b)), static_cast<double>(v),
                static_cast<double>(v) * 0.13 + 1) << v;
  }
  EXPECT_EQ(detail::wait_histogram::quantile(detail::wait_histogram::counts{}, 0.5), 0u);
}

}  // namespace
}  // namespace umpager::testing
