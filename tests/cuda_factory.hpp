// Driver factory for typed suites: the CUDA driver when a usable GPU is present.
// Without one, make() returns null with the probe's reason and the test skips;
// with UMPAGER_DRIVER=cuda in the environment (tools/gpu-check) the absence of a
// GPU is an error instead: make() throws umpager::driver_error and the test fails.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "cuda/cuda_driver.hpp"
#include "umpager/driver.hpp"

namespace umpager::testing {

struct cuda_factory {
  static constexpr const char* name = "cuda";
  static std::unique_ptr<driver> make(std::string* why, std::size_t memory_bytes = std::size_t{1} << 30) {
    cuda::cuda_config cfg;
    cfg.memory_bytes = memory_bytes;
    const char* required = std::getenv("UMPAGER_DRIVER");
    if (required == nullptr || std::strcmp(required, "cuda") != 0) {
      cuda::probe_result p = cuda::probe(cfg.device);
      if (!p.usable) {
        if (why != nullptr) *why = std::move(p.reason);
        return nullptr;
      }
    }
    return cuda::make_driver(cfg);
  }
};

}  // namespace umpager::testing
