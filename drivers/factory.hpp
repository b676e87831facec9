// Chooses the device driver: CUDA when a usable GPU is present, else the simulator.
// Lives beside the drivers; the runtime includes only this header and driver.hpp.
#pragma once

#include <memory>
#include <vector>

#include "umpager/config.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

/// Builds the drivers `cfg.driver` asks for, one per device (`cfg.devices`: CUDA
/// devices 0..n-1, or n simulated devices); throws driver_error when CUDA is asked
/// for (or chosen) and a device is unusable (the message says which and why).
std::vector<std::unique_ptr<driver>> make_drivers(const config& cfg);

}  // namespace umpager::detail
