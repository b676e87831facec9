// The drivers every typed suite runs against: the simulated device always, the
// CUDA driver when it was built (it skips, with the reason, without a GPU).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sim/sim_driver.hpp"
#include "umpager/driver.hpp"

namespace umpager::testing {

struct sim_factory {
  static constexpr const char* name = "sim";
  /// Returns a driver, or null with `why` set when this driver cannot run here.
  static std::unique_ptr<driver> make(std::string* /*why*/, std::size_t memory_bytes = std::size_t{1} << 30) {
    sim::sim_config cfg;
    cfg.memory_bytes = memory_bytes;
    return sim::make_driver(cfg);
  }
};

// cuda_factory: added by drivers/cuda (see tests/cuda_factory.hpp when present).
#ifdef UMPAGER_HAVE_CUDA
}  // namespace umpager::testing
#include "cuda_factory.hpp"
namespace umpager::testing {
using driver_factories = ::testing::Types<sim_factory, cuda_factory>;
#else
using driver_factories = ::testing::Types<sim_factory>;
#endif

struct factory_names {
  template <class T>
  static std::string GetName(int) {
    return T::name;
  }
};

}  // namespace umpager::testing

/// In a typed test body: builds the driver or skips with the reason.
#define UMPAGER_MAKE_DRIVER_OR_SKIP(var, ...)                         \
  std::string var##_why;                                              \
  auto var = TypeParam::make(&var##_why, ##__VA_ARGS__);              \
  if (!var) GTEST_SKIP() << TypeParam::name << ": " << var##_why
