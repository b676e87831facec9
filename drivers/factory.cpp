// The driver factory: the one place that knows the concrete drivers, so the core
// sees drivers only through umpager/driver.hpp.
#include "factory.hpp"

#include "sim/sim_driver.hpp"
#include "umpager/error.hpp"
#ifdef UMPAGER_HAVE_CUDA
#include "cuda/cuda_driver.hpp"
#endif

namespace umpager::detail {
namespace {

constexpr std::size_t kDefaultSimMemory = std::size_t{4} << 30;

std::unique_ptr<driver> make_sim(const config& cfg) {
  sim::sim_config sc;
  sc.memory_bytes = cfg.device_memory != 0 ? cfg.device_memory : kDefaultSimMemory;
  return sim::make_driver(sc);
}

}  // namespace

std::vector<std::unique_ptr<driver>> make_drivers(const config& cfg) {
  bool cuda = cfg.driver == driver_kind::cuda;
#ifdef UMPAGER_HAVE_CUDA
  if (cfg.driver == driver_kind::automatic) cuda = cuda::probe(0).usable;
#else
  if (cuda) throw driver_error("UMPAGER_DRIVER=cuda, but this umpager was built without the CUDA Toolkit");
#endif
  std::vector<std::unique_ptr<driver>> out;
  for (unsigned k = 0; k < cfg.devices; ++k) {
    if (!cuda) {
      out.push_back(make_sim(cfg));
      continue;
    }
#ifdef UMPAGER_HAVE_CUDA
    auto p = cuda::probe(static_cast<int>(k));
    if (!p.usable) {
      throw driver_error((cfg.driver == driver_kind::cuda ? "UMPAGER_DRIVER=cuda" : "the CUDA driver") +
                         std::string(cfg.devices > 1 ? " with UMPAGER_DEVICES=" + std::to_string(cfg.devices) : "") +
                         ", but device " + std::to_string(k) + " is not usable: " + p.reason);
    }
    cuda::cuda_config cc;
    cc.device = static_cast<int>(k);
    cc.memory_bytes = cfg.device_memory;
    out.push_back(cuda::make_driver(cc));
#endif
  }
  return out;
}

}  // namespace umpager::detail
