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
typedef struct umpager_completion umpager_completion;
typedef struct umpager_declaration umpager_declaration;

typedef enum { UMPAGER_DRIVER_AUTO = 0, UMPAGER_DRIVER_SIM = 1, UMPAGER_DRIVER_CUDA = 2 } umpager_driver_kind;
typedef enum {
  UMPAGER_TRACKING_AUTO = 0,
  UMPAGER_TRACKING_WP_ASYNC = 1,
  UMPAGER_TRACKING_SYNC = 2,
  UMPAGER_TRACKING_OFF = 3
} umpager_tracking;
/* umpager_alloc's block_size for an adaptive allocation, whatever the config says. */
#define UMPAGER_BLOCK_ADAPTIVE ((size_t)-1)
typedef enum { UMPAGER_LOCATION_HOST = 0, UMPAGER_LOCATION_DEVICE = 1 } umpager_location;
/* umpager_config.resolver_spin_us: 50 us where resolvers have 2 or more CPUs and the kernel
   reports CPU pressure (PSI), or 4 or more without it; else 0. */
#define UMPAGER_RESOLVER_SPIN_AUTO 0xffffffffu

typedef enum {
  UMPAGER_RESOLVER_WAIT_AUTO = 0,
  UMPAGER_RESOLVER_WAIT_IO_URING = 1,
  UMPAGER_RESOLVER_WAIT_EPOLL = 2
} umpager_resolver_wait;

typedef enum { UMPAGER_POLICY_LRU = 0, UMPAGER_POLICY_FIFO = 1, UMPAGER_POLICY_CLOCK = 2, UMPAGER_POLICY_ADAPTIVE = 3 } umpager_policy;
typedef enum { UMPAGER_ACCESS_READ = 0, UMPAGER_ACCESS_WRITE = 1, UMPAGER_ACCESS_READ_WRITE = 2 } umpager_access_mode;
typedef enum { UMPAGER_ATTACH_GLOBAL = 0, UMPAGER_ATTACH_HOST = 1, UMPAGER_ATTACH_SINGLE = 2 } umpager_attach_to;
typedef enum {
  UMPAGER_ADVISE_SET_READ_MOSTLY = 0,
  UMPAGER_ADVISE_UNSET_READ_MOSTLY = 1,
  UMPAGER_ADVISE_SET_PREFERRED_LOCATION = 2,
  UMPAGER_ADVISE_UNSET_PREFERRED_LOCATION = 3,
  UMPAGER_ADVISE_SET_ACCESSED_BY = 4,   /* the device reaches it where it is: docs/api.md */
  UMPAGER_ADVISE_UNSET_ACCESSED_BY = 5
} umpager_advice;
typedef enum { UMPAGER_PAGE_HOST = 0, UMPAGER_PAGE_SHARED = 1, UMPAGER_PAGE_DEVICE = 2, UMPAGER_PAGE_STORAGE = 3 } umpager_page_where;
/** umpager_map_file's mode (umpager::file_access). */
typedef enum { UMPAGER_FILE_READ_ONLY = 0, UMPAGER_FILE_READ_WRITE = 1 } umpager_file_access;
/* Places in umpager_range_info: */
#define UMPAGER_PLACE_NONE (-2) /* no advice / no prefetch yet, or the chunks of the range disagree */
#define UMPAGER_PLACE_HOST (-1) /* the host; k >= 0 is device k */

/* One range a kernel touches (host pointers into an allocation). */
typedef struct umpager_access {
  const void* ptr;
  size_t bytes;
  int mode; /* umpager_access_mode */
} umpager_access;

typedef struct umpager_page_info {
  int where;       /* umpager_page_where */
  unsigned device; /* for shared and device pages */
} umpager_page_info;

typedef struct umpager_range_info {
  int last_prefetch;      /* UMPAGER_PLACE_* or device */
  int preferred_location; /* UMPAGER_PLACE_* or device */
  int read_mostly;        /* 1 when in force on every page */
} umpager_range_info;

/* Enum-valued fields and arguments are ints, so a bad value is an error, not undefined behaviour. */
typedef struct umpager_config {
  int driver;           /* umpager_driver_kind */
  size_t device_memory; /* 0 = driver default */
  size_t block_size;    /* what a CPU fault maps: 0 = adaptive (4K up to a chunk), else power of two 4K..2M */
  unsigned resolvers;   /* 1..64; 0 = auto */
  char cpuset[256];     /* "" = CPUs near the device */
  int tracking;         /* umpager_tracking */
  int kernel_faults;    /* 1 = serve faults taken inside system calls */
  int single_pointer;   /* 1 = the CPU pointer is also the device pointer (CUDA only; else -EINVAL) */
  unsigned devices;     /* devices to drive, 1..16 (0 = 1); the C calls use device 0 */
  unsigned copy_timeout_ms; /* a device copy slower than this fails, 1..3600000 */
  size_t readahead_bytes;   /* read-ahead of sequential CPU read scans, 0 (off)..1G */
  int stats_summary;    /* 1 = print statistics to stderr at shutdown (UMPAGER_STATS) */
  char trace_file[4096];/* Chrome trace written at shutdown (UMPAGER_TRACE); "" = none */
  int policy;           /* umpager_policy: eviction policy (UMPAGER_POLICY) */
  int check_stale;      /* 1 = an undeclared launch fails if the CPU wrote device-resident data */
  unsigned resolver_spin_us; /* most a resolver busy-polls for the next fault, 0 (never)..10000, or UMPAGER_RESOLVER_SPIN_AUTO */
  int resolver_wait;    /* umpager_resolver_wait: what resolvers sleep on (UMPAGER_RESOLVER_WAIT) */
  size_t host_memory;   /* bytes of managed data kept in host memory (UMPAGER_HOST_MEMORY); 0 = no budget */
  char spill_dir[4096]; /* directory of the spill file (UMPAGER_SPILL_DIR); "" = $TMPDIR, else /var/tmp */
  int chunks_ahead;     /* 1 = allocate creates the allocation's device chunks (UMPAGER_CHUNKS_AHEAD) */
  uint64_t migrate_after; /* host-memory accesses after which a reachable chunk moves (UMPAGER_MIGRATE_AFTER): 0 auto, UINT64_MAX never */
  int page_cache;       /* 1 = mapped files' I/O goes through the page cache (UMPAGER_PAGE_CACHE); 0 = O_DIRECT where allowed */
} umpager_config;

typedef struct umpager_stats {
  uint64_t read_faults, write_faults, wp_faults, written_pages_found, pages_continued, pages_poisoned;
  uint64_t bytes_to_device, bytes_to_host, chunks_evicted, resolver_busy_ns, device_bytes_in_use;
  uint64_t managed_bytes, metadata_bytes, stale_faults, pages_read_ahead, bytes_read_ahead;
  uint64_t fault_wait_p50_ns, fault_wait_p99_ns; /* see umpager::stats */
  uint64_t thrashing_events, policy_failures, stale_launches, device_bytes_slack;
  uint64_t bytes_from_storage, bytes_to_storage, io_queue_depth_max, storage_read_p50_ns, storage_read_p99_ns;
  uint64_t fault_messages; /* every fault message read; read + write + wp + stale once resolvers are idle */
  uint64_t remote_accesses, remote_chunk_reaches, chunks_migrated, bytes_migrated; /* reaching non-resident memory */
} umpager_stats;

/** Fills *cfg with the defaults overridden by UMPAGER_* variables. -EINVAL names a bad variable. */
int umpager_config_from_env(umpager_config* cfg);

/** Starts a runtime; cfg NULL = umpager_config_from_env(). */
int umpager_runtime_create(const umpager_config* cfg, umpager_runtime** out);
/** Stops resolvers and frees every allocation; the handle stays valid (calls return -ESHUTDOWN). */
int umpager_runtime_shutdown(umpager_runtime* rt);
/** Shuts down if needed and frees the handle. NULL is accepted. */
int umpager_runtime_destroy(umpager_runtime* rt);

/** Managed memory of `bytes`; block_size 0 = the runtime's, UMPAGER_BLOCK_ADAPTIVE = adaptive,
 *  else a fixed block (power of two 4K..2M). *ptr is the CPU pointer. */
int umpager_alloc(umpager_runtime* rt, size_t bytes, size_t block_size, void** ptr);
/** Frees by the pointer umpager_alloc returned. */
int umpager_free(umpager_runtime* rt, void* ptr);
/** Managed memory whose content is the file at `path`, read lazily (umpager::runtime::map_file);
 * mode: umpager_file_access; block_size 0 = the runtime's. *ptr is the CPU pointer, *bytes
 * (may be NULL) the allocation's size. Free with umpager_free (which writes back a
 * read_write file's written pages first). -ENOENT-style errors name the path. */
int umpager_map_file(umpager_runtime* rt, const char* path, int mode, size_t block_size, void** ptr, size_t* bytes);
/** umpager_map_file of `length` bytes (0 = to the end of the file) at `offset` of the open
 * file `fd` (umpager::runtime::map_file(int fd, ...)). The runtime keeps a duplicate of fd:
 * the caller may close theirs on return. Only [offset, offset+length) of the file is read
 * or written; *bytes is the allocation's size (length rounded up to the block, the rest
 * reading as zeros). Messages name "fd N". Returns:
 *   0        success: *ptr is the CPU pointer (free with umpager_free)
 *   -EINVAL  ptr NULL; bad mode or block_size; offset not a multiple of 4096, or at or past
 *            the end of the file; offset+length past the end; length not a multiple of
 *            4096 where the range does not end at the end of the file; not a regular file
 *            (or empty); mode UMPAGER_FILE_READ_WRITE with fd not O_RDWR or with O_APPEND;
 *            fd O_WRONLY or O_PATH
 *   -EBADF   fd is not an open descriptor
 *   -ESHUTDOWN the runtime was shut down
 *   -ENOMEM etc. the memory or a system call failed (umpager_last_error says which) */
int umpager_map_file_fd(umpager_runtime* rt, int fd, int mode, uint64_t offset, size_t length, size_t block_size,
                        void** ptr, size_t* bytes);
/** Writes the written pages of [ptr, ptr+bytes) of a read_write mapped file to the file,
 * then fdatasync (durable on return, as msync(MS_SYNC)); 0 and nothing done for a read_only
 * mapped file; -EINVAL for memory that is not a mapped file; -EIO-style on a failed write. */
int umpager_flush(umpager_runtime* rt, const void* ptr, size_t bytes);
/** Device address of a CPU address inside an allocation. */
int umpager_device_pointer(umpager_runtime* rt, const void* ptr, void** device_ptr);
/** Moves [ptr, ptr+bytes) (ptr 4096-aligned) to `where`, after work on `stream` (NULL = default). */
int umpager_prefetch(umpager_runtime* rt, const void* ptr, size_t bytes, int where /* umpager_location */,
                     umpager_stream* stream);
/** Stream-ordered prefetch: on a stream you created it returns once enqueued (on NULL, the
 * default stream, it is done on return). *done (may be NULL) receives a handle to wait for
 * this prefetch alone; destroy it with umpager_completion_destroy (that does not wait). */
int umpager_prefetch_async(umpager_runtime* rt, const void* ptr, size_t bytes, int where /* umpager_location */,
                           umpager_stream* stream, umpager_completion** done);
int umpager_completion_synchronize(umpager_completion* c);
/** *done = 1 once the stream passed the prefetch, else 0. */
int umpager_completion_query(umpager_completion* c, int* done);
int umpager_completion_destroy(umpager_completion* c);

/** Declared launch of kernel(arg) (run like umpager's portable kernels: on the simulated
 * device's stream, a host function on CUDA): makes set[0..n) resident, pins it until the
 * stream passes the kernel; written ranges then fault back on a CPU touch. */
int umpager_launch(umpager_runtime* rt, void (*kernel)(void* arg), void* arg, umpager_stream* stream,
                   const umpager_access* set, size_t n);
/** For kernels launched by the application on the native stream: begin makes set[0..n)
 * resident now; end (after the kernels are enqueued) records the stream point that ends
 * the pins and frees the handle. */
int umpager_declare_begin(umpager_runtime* rt, const umpager_access* set, size_t n, umpager_stream* stream,
                          umpager_declaration** out);
int umpager_declare_end(umpager_declaration* d);
/** cudaStreamAttachMemAsync for the allocation containing ptr. */
int umpager_attach(umpager_runtime* rt, const void* ptr, int where /* umpager_attach_to */, umpager_stream* stream);
/** cudaMemAdvise; location is umpager_location, device its device (preferred location). */
int umpager_advise(umpager_runtime* rt, const void* ptr, size_t bytes, int advice /* umpager_advice */,
                   int location, unsigned device);
/** Range query; pages (NULL or room for bytes/4096 entries, rounded up) gets each page's place. */
int umpager_query(umpager_runtime* rt, const void* ptr, size_t bytes, umpager_range_info* info,
                  umpager_page_info* pages);
/** Replaces device 0's eviction policy (umpager_policy). */
int umpager_set_policy(umpager_runtime* rt, int policy);

/** Waits for the runtime's default stream. */
int umpager_synchronize(umpager_runtime* rt);
/* cudaDeviceSynchronize: every stream of every device, the application's included. */
int umpager_device_synchronize(umpager_runtime* rt);
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
