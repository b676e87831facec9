// probe() with the details make_driver() needs to pick the exception type.
#pragma once

#include <string>

namespace umpager::cuda::detail {

struct probe_detail {
  bool usable = false;
  bool bad_device = false;  ///< the driver works but the ordinal is out of range
  int device_count = 0;
  std::string reason;
};

probe_detail probe_device(int device) noexcept;

}  // namespace umpager::cuda::detail
