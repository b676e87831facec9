#include "fence.hpp"

#include <string>

#include "umpager/error.hpp"

namespace umpager::detail {

bool fence::wait_for(std::chrono::milliseconds timeout) {
  return poll_until([this] { return done(); }, timeout);
}

void check_upload_stream(driver& d, stream_handle u, bool wait, const char* what) {
  if (!wait && !d.idle(u)) return;
  try {
    d.synchronize(u);
  } catch (const driver_error& e) {
    throw driver_error(std::string(what) +
                       ": an earlier stream-ordered upload (prefetch or declaration on a created stream) failed; the "
                       "device copy of the pages it moved is not valid, so kernels that used them read undefined "
                       "data: " + e.what());
  }
}

void fence::check_uploads(bool wait, const char* what) {
  if (upload_.impl != nullptr && alive()) check_upload_stream(drv_, upload_, wait, what);
}

}  // namespace umpager::detail
