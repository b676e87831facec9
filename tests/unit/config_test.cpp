// Configuration from UMPAGER_* variables: each bad value names its variable and
// the accepted values.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>
#include <string>

#include "c_config.hpp"
#include "config_table.hpp"
#include "umpager/config.hpp"
#include "umpager/umpager.h"
#include "umpager/error.hpp"

namespace umpager {
namespace {

/// Sets a variable for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

std::string error_of(const char* name, const char* value) {
  scoped_env e(name, value);
  try {
    (void)config::from_env();
  } catch (const invalid_argument& ex) {
    return ex.what();
  }
  return {};
}

// Issue 12: every variable of the table config::from_env reads survives
// umpager_config_from_env and the struct umpager_runtime_create turns back into a
// config. A variable added without a C field fails here.
TEST(config_env, every_variable_survives_the_c_round_trip) {
  ASSERT_FALSE(detail::env_variables().empty());
  for (const detail::env_variable& v : detail::env_variables()) {
    SCOPED_TRACE(v.name);
    scoped_env e(v.name, v.sample);
    const config want = config::from_env();
    EXPECT_NE(want, config{}) << "the table's sample for " << v.name << " must differ from the default";
    umpager_config c{};
    ASSERT_EQ(umpager_config_from_env(&c), 0) << umpager_last_error();
    EXPECT_EQ(detail::from_c(c), want) << v.name << "=" << v.sample << " is lost by the C config struct";
  }
  // All at once, too: no field overwrites another.
  std::vector<std::unique_ptr<scoped_env>> all;
  for (const detail::env_variable& v : detail::env_variables()) all.push_back(std::make_unique<scoped_env>(v.name, v.sample));
  umpager_config c{};
  ASSERT_EQ(umpager_config_from_env(&c), 0) << umpager_last_error();
  EXPECT_EQ(detail::from_c(c), config::from_env());
}

TEST(config_env, good_values_are_read) {
  scoped_env a("UMPAGER_DRIVER", "sim"), b("UMPAGER_DEVICE_MEMORY", "512M"), c("UMPAGER_BLOCK_SIZE", "2M"),
      d("UMPAGER_RESOLVERS", "3"), e("UMPAGER_CPUSET", "0"), f("UMPAGER_TRACKING", "sync"),
      g("UMPAGER_KERNEL_FAULTS", "0");
  config cfg = config::from_env();
  EXPECT_EQ(cfg.driver, driver_kind::sim);
  EXPECT_EQ(cfg.device_memory, std::size_t{512} << 20);
  EXPECT_EQ(cfg.block_size, std::size_t{2} << 20);
  EXPECT_EQ(cfg.resolvers, 3u);
  EXPECT_EQ(cfg.cpuset, "0");
  EXPECT_EQ(cfg.tracking, tracking_mode::sync);
  EXPECT_FALSE(cfg.kernel_faults);
}

TEST(config_env, auto_values_and_new_switches) {
  EXPECT_EQ(config{}.resolvers, 0u) << "auto by default";
  scoped_env a("UMPAGER_RESOLVERS", "auto"), b("UMPAGER_READAHEAD", "0"), c("UMPAGER_SINGLE_POINTER", "1");
  config cfg = config::from_env();
  EXPECT_EQ(cfg.resolvers, 0u);
  EXPECT_EQ(cfg.readahead_bytes, 0u);
  EXPECT_TRUE(cfg.single_pointer);
}

TEST(config_env, block_size_adaptive_is_the_default_and_a_value) {
  EXPECT_EQ(config{}.block_size, 0u) << "adaptive by default";
  EXPECT_NO_THROW(config{}.validate());
  {
    scoped_env a("UMPAGER_BLOCK_SIZE", "64K");
    EXPECT_EQ(config::from_env().block_size, 65536u);
  }
  scoped_env a("UMPAGER_BLOCK_SIZE", "adaptive");
  EXPECT_EQ(config::from_env().block_size, 0u);
  config bad;
  bad.block_size = 3000;
  EXPECT_THROW(bad.validate(), invalid_argument);
}

TEST(config_env, policy_and_stale_check) {
  EXPECT_EQ(config{}.policy, policy_kind::adaptive);
  EXPECT_FALSE(config{}.check_stale);
  for (policy_kind p : {policy_kind::lru, policy_kind::fifo, policy_kind::clock, policy_kind::adaptive}) {
    scoped_env a("UMPAGER_POLICY", to_string(p)), b("UMPAGER_CHECK_STALE", "1");
    const config cfg = config::from_env();
    EXPECT_EQ(cfg.policy, p);
    EXPECT_TRUE(cfg.check_stale);
  }
  config bad;
  bad.policy = static_cast<policy_kind>(9);
  EXPECT_THROW(bad.validate(), invalid_argument);
}

struct bad_case {
  const char* name;
  const char* value;
  const char* accepted;  // a piece of the message listing accepted values
};

class config_env_bad : public ::testing::TestWithParam<bad_case> {};

TEST_P(config_env_bad, names_variable_and_accepted_values) {
  const bad_case& c = GetParam();
  const std::string msg = error_of(c.name, c.value);
  ASSERT_FALSE(msg.empty()) << c.name << "=" << c.value << " was accepted";
  EXPECT_NE(msg.find(c.name), std::string::npos) << msg;
  EXPECT_NE(msg.find(c.accepted), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    table, config_env_bad,
    ::testing::Values(bad_case{"UMPAGER_DRIVER", "gpu", "auto, sim, cuda"},
                      bad_case{"UMPAGER_HOST_MEMORY", "1M", "at least 4M"},
                      bad_case{"UMPAGER_HOST_MEMORY", "half", "K, M or G"},
                      bad_case{"UMPAGER_DEVICE_MEMORY", "lots", "K, M or G"},
                      bad_case{"UMPAGER_DEVICE_MEMORY", "0", "at least one chunk"},
                      bad_case{"UMPAGER_DEVICE_MEMORY", "99999999999999G", "K, M or G"},
                      bad_case{"UMPAGER_BLOCK_SIZE", "3K", "power of two from 4K to 2M"},
                      bad_case{"UMPAGER_BLOCK_SIZE", "4M", "power of two from 4K to 2M"},
                      bad_case{"UMPAGER_BLOCK_SIZE", "adaptiv", "adaptive (4K up to a chunk"},
                      bad_case{"UMPAGER_BLOCK_SIZE", "0", "adaptive (4K up to a chunk"},
                      bad_case{"UMPAGER_BLOCK_SIZE", "-64K", "adaptive (4K up to a chunk"},
                      bad_case{"UMPAGER_RESOLVERS", "0", "1 to 64"},
                      bad_case{"UMPAGER_RESOLVERS", "two", "1 to 64"},
                      bad_case{"UMPAGER_TRACKING", "fast", "auto, wp_async, sync, off"},
                      bad_case{"UMPAGER_KERNEL_FAULTS", "yes", "1 (serve"},
                      bad_case{"UMPAGER_READAHEAD", "2G", "0 (off) to 1G"},
                      bad_case{"UMPAGER_READAHEAD", "fast", "K, M or G"},
                      bad_case{"UMPAGER_SINGLE_POINTER", "yes", "1 (one pointer"},
                      bad_case{"UMPAGER_DEVICES", "0", "1 to 16"},
                      bad_case{"UMPAGER_DEVICES", "2x", "1 to 16"},
                      bad_case{"UMPAGER_POLICY", "mru", "lru, fifo, clock, adaptive"},
                      bad_case{"UMPAGER_CHECK_STALE", "on", "1 (an undeclared launch"},
                      bad_case{"UMPAGER_CHUNKS_AHEAD", "yes", "1 (allocate creates"}));

TEST(config_env, parse_size_units) {
  EXPECT_EQ(parse_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_size("64K", "x"), 65536u);
  EXPECT_EQ(parse_size("2M", "x"), std::size_t{2} << 20);
  EXPECT_EQ(parse_size("1G", "x"), std::size_t{1} << 30);
  EXPECT_THROW(parse_size("-1", "x"), invalid_argument);
  EXPECT_THROW(parse_size("1T", "x"), invalid_argument);
}

}  // namespace
}  // namespace umpager

namespace umpager {
namespace {

std::string warnings_with(const char* name, const char* value) {
  scoped_env e(name, value);
  ::testing::internal::CaptureStderr();
  (void)config::from_env();
  return ::testing::internal::GetCapturedStderr();
}

TEST(config_env, unknown_variable_warns_naming_the_nearest_known_one) {
  const std::string w = warnings_with("UMPAGER_BLOCKSIZE", "64K");
  EXPECT_NE(w.find("UMPAGER_BLOCKSIZE is not a known variable"), std::string::npos) << w;
  EXPECT_NE(w.find("did you mean UMPAGER_BLOCK_SIZE?"), std::string::npos) << w;
  EXPECT_NE(warnings_with("UMPAGER_DRIVERS", "sim").find("did you mean UMPAGER_DRIVER?"), std::string::npos);
  EXPECT_NE(warnings_with("UMPAGER_READ_AHEAD", "0").find("did you mean UMPAGER_READAHEAD?"), std::string::npos);
  EXPECT_EQ(warnings_with("UMPAGER_DRIVER", "sim"), "") << "known variables are not warned about";
  EXPECT_EQ(warnings_with("UMPAGERX", "1"), "") << "only the UMPAGER_ prefix is ours";
}

TEST(config_env, every_known_variable_is_documented) {
  std::ifstream doc(UMPAGER_SOURCE_DIR "/docs/environment.md");
  ASSERT_TRUE(doc) << "docs/environment.md not found";
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  const auto names = known_variables();
  EXPECT_GE(names.size(), 11u);
  for (const std::string& n : names) EXPECT_NE(text.find("`" + n + "`"), std::string::npos) << n;
}

}  // namespace
}  // namespace umpager
