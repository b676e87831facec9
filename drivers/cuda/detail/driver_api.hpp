// The CUDA driver-API functions umpager uses, as pointers obtained through
// cudaGetDriverEntryPointByVersion: nothing links libcuda, so binaries load on
// machines without the NVIDIA driver (<cuda.h> is used for types only).
#pragma once

#include <cuda.h>

#include <string>

namespace umpager::cuda::detail {

struct driver_api {
  decltype(&::cuGetErrorName) cuGetErrorName = nullptr;
  decltype(&::cuGetErrorString) cuGetErrorString = nullptr;
  decltype(&::cuDeviceGet) cuDeviceGet = nullptr;
  decltype(&::cuDeviceGetAttribute) cuDeviceGetAttribute = nullptr;
  decltype(&::cuMemGetAllocationGranularity) cuMemGetAllocationGranularity = nullptr;
  decltype(&::cuMemCreate) cuMemCreate = nullptr;
  decltype(&::cuMemRelease) cuMemRelease = nullptr;
  decltype(&::cuMemAddressReserve) cuMemAddressReserve = nullptr;
  decltype(&::cuMemAddressFree) cuMemAddressFree = nullptr;
  decltype(&::cuMemMap) cuMemMap = nullptr;
  decltype(&::cuMemUnmap) cuMemUnmap = nullptr;
  decltype(&::cuMemSetAccess) cuMemSetAccess = nullptr;
};

/// The table, loaded on first use (thread-safe); null with `*why` set when the
/// CUDA driver is missing or lacks a symbol. Never throws.
const driver_api* load_driver_api(std::string* why) noexcept;

/// The loaded table; throws umpager::driver_error when unavailable.
const driver_api& api();

}  // namespace umpager::cuda::detail
