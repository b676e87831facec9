// Chooses the device driver: CUDA when a usable GPU is present, else the simulator.
#pragma once

#include <memory>

#include "umpager/config.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

/// Builds the driver `cfg.driver` asks for; throws driver_error when CUDA is
/// asked for and unusable (the message says why).
std::unique_ptr<driver> make_driver(const config& cfg);

}  // namespace umpager::detail
