#include "driver_select.hpp"

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

std::unique_ptr<driver> make_driver(const config& cfg) {
  switch (cfg.driver) {
    case driver_kind::sim:
      return make_sim(cfg);
    case driver_kind::cuda: {
#ifdef UMPAGER_HAVE_CUDA
      auto p = cuda::probe();
      if (!p.usable) throw driver_error("UMPAGER_DRIVER=cuda, but no usable GPU: " + p.reason);
      cuda::cuda_config cc;
      cc.memory_bytes = cfg.device_memory;
      return cuda::make_driver(cc);
#else
      throw driver_error("UMPAGER_DRIVER=cuda, but this umpager was built without the CUDA Toolkit");
#endif
    }
    case driver_kind::automatic:
    default:
#ifdef UMPAGER_HAVE_CUDA
      if (cuda::probe().usable) {
        cuda::cuda_config cc;
        cc.memory_bytes = cfg.device_memory;
        return cuda::make_driver(cc);
      }
#endif
      return make_sim(cfg);
  }
}

}  // namespace umpager::detail
