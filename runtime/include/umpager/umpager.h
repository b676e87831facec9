/**
 * @file umpager.h
 * umpager C API. Every function returns 0 on success or a negative errno:
 *   -EINVAL     bad argument (null, zero, unaligned, foreign or freed pointer, range past the end)
 *   -ENOMEM     host or device memory could not be provided
 *   -ENOTSUP    the kernel or its policy lacks something umpager needs (message says what to change)
 *   -EIO        a device driver operation failed
 *   -ESHUTDOWN  the runtime was shut down
 *   -EPERM etc. a system call failed with that errno
 * umpager_last_error() returns a message for the last failure on the calling thread.
 */
#ifndef UMPAGER_UMPAGER_H
#define UMPAGER_UMPAGER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umpager_runtime umpager_runtime;
typedef struct umpager_stream umpager_stream;

typedef enum { UMPAGER_DRIVER_AUTO = 0, UMPAGER_DRIVER_SIM = 1, UMPAGER_DRIVER_CUDA = 2 } umpager_driver_kind;
typedef enum {
  UMPAGER_TRACKING_AUTO = 0,
  UMPAGER_TRACKING_WP_ASYNC = 1,
  UMPAGER_TRACKING_SYNC = 2,
  UMPAGER_TRACKING_OFF = 3
} umpager_tracking;
typedef enum { UMPAGER_LOCATION_HOST = 0, UMPAGER_LOCATION_DEVICE = 1 } umpager_location;

/* Enum-valued fields and arguments are ints, so a bad value is an error, not undefined behaviour. */
typedef struct umpager_config {
  int driver;           /* umpager_driver_kind */
  size_t device_memory; /* 0 = driver default */
  size_t block_size;    /* read-ahead, power of two 4K..2M */
  unsigned resolvers;   /* 1..64; 0 = auto */
  char cpuset[256];     /* "" = CPUs near the device */
  int tracking;         /* umpager_tracking */
  int kernel_faults;    /* 1 = serve faults taken inside system calls */
  int single_pointer;   /* 1 = the CPU pointer is also the device pointer (CUDA only; else -EINVAL) */
  unsigned devices;     /* devices to drive, 1..16 (0 = 1); the C calls use device 0 */
} umpager_config;

typedef struct umpager_stats {
  uint64_t read_faults, write_faults, wp_faults, written_pages_found, pages_continued, pages_poisoned;
  uint64_t bytes_to_device, bytes_to_host, chunks_evicted, resolver_busy_ns, device_bytes_in_use;
  uint64_t managed_bytes, metadata_bytes, stale_faults, pages_read_ahead, bytes_read_ahead;
} umpager_stats;

/** Fills *cfg with the defaults overridden by UMPAGER_* variables. -EINVAL names a bad variable. */
int umpager_config_from_env(umpager_config* cfg);

/** Starts a runtime; cfg NULL = umpager_config_from_env(). */
int umpager_runtime_create(const umpager_config* cfg, umpager_runtime** out);
/** Stops resolvers and frees every allocation; the handle stays valid (calls return -ESHUTDOWN). */
int umpager_runtime_shutdown(umpager_runtime* rt);
/** Shuts down if needed and frees the handle. NULL is accepted. */
int umpager_runtime_destroy(umpager_runtime* rt);

/** Managed memory of `bytes`; block_size 0 = the runtime's. *ptr is the CPU pointer. */
int umpager_alloc(umpager_runtime* rt, size_t bytes, size_t block_size, void** ptr);
/** Frees by the pointer umpager_alloc returned. */
int umpager_free(umpager_runtime* rt, void* ptr);
/** Device address of a CPU address inside an allocation. */
int umpager_device_pointer(umpager_runtime* rt, const void* ptr, void** device_ptr);
/** Moves [ptr, ptr+bytes) (ptr 4096-aligned) to `where`, after work on `stream` (NULL = default). */
int umpager_prefetch(umpager_runtime* rt, const void* ptr, size_t bytes, int where /* umpager_location */,
                     umpager_stream* stream);
/** Waits for the runtime's default stream. */
int umpager_synchronize(umpager_runtime* rt);
int umpager_get_stats(umpager_runtime* rt, umpager_stats* out);

int umpager_stream_create(umpager_runtime* rt, umpager_stream** out);
int umpager_stream_synchronize(umpager_stream* s);
/** Native stream (cudaStream_t on CUDA, NULL on the simulated device) in *native. */
int umpager_stream_native(umpager_stream* s, void** native);
int umpager_stream_destroy(umpager_stream* s);

/** Message of the last failure on this thread ("" if none). */
const char* umpager_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* UMPAGER_UMPAGER_H */
