/**
 * @file uvm.h
 * @brief The porting layer: CUDA's managed-memory calls, renamed.
 *
 * Every call has the shape of its CUDA runtime counterpart with the `cuda` prefix
 * replaced by `umpager` (cudaMallocManaged -> umpagerMallocManaged, cudaStream_t ->
 * umpagerStream_t, cudaErrorInvalidValue -> umpagerErrorInvalidValue, ...), and
 * returns the error code CUDA documents for the same mistake. The calls act on one
 * process-wide default runtime, created on first use from the `UMPAGER_*` variables
 * (docs/environment.md) and shut down at exit; calls made after that return
 * umpagerErrorCudartUnloading, as CUDA's do. Thread-safe. See docs/porting.md.
 *
 * As with CUDA, every failing call records its code for umpagerGetLastError();
 * umpagerGetLastErrorMessage() (an umpager addition) says what exactly was wrong.
 */
#ifndef UMPAGER_UVM_H
#define UMPAGER_UVM_H

#include <stddef.h>

#ifdef __cplusplus
#define UMPAGER_DEFAULT(value) = value
extern "C" {
#else
#define UMPAGER_DEFAULT(value)
#endif

/** Error codes; each value equals its CUDA counterpart's (umpagerErrorX == cudaErrorX). */
typedef enum umpagerError {
  umpagerSuccess = 0,
  umpagerErrorInvalidValue = 1,          /**< null, zero, foreign or freed pointer; range past the end; bad flag */
  umpagerErrorMemoryAllocation = 2,      /**< host or device memory could not be provided */
  umpagerErrorInitializationError = 3,   /**< the default runtime could not start (bad UMPAGER_* value, kernel) */
  umpagerErrorCudartUnloading = 4,       /**< called after the default runtime was shut down at exit */
  umpagerErrorInvalidDevice = 101,       /**< no such device (neither umpagerCpuDeviceId nor 0..count-1) */
  umpagerErrorInvalidResourceHandle = 400, /**< unknown or destroyed stream */
  umpagerErrorNotSupported = 801,        /**< not supported (yet) by umpager; the message says what */
  umpagerErrorUnknown = 999              /**< a device operation failed (copy error, timeout) */
} umpagerError_t;

/** Device id of the CPU, as cudaCpuDeviceId. */
#define umpagerCpuDeviceId ((int)-1)
/** "No single device", as cudaInvalidDeviceId. */
#define umpagerInvalidDeviceId ((int)-2)

/** umpagerMallocManaged / umpagerStreamAttachMemAsync flags (values of cudaMemAttach*). */
#define umpagerMemAttachGlobal 0x01
#define umpagerMemAttachHost 0x02
#define umpagerMemAttachSingle 0x04

/** Advice for umpagerMemAdvise (values of cudaMemoryAdvise). */
typedef enum umpagerMemoryAdvise {
  umpagerMemAdviseSetReadMostly = 1,
  umpagerMemAdviseUnsetReadMostly = 2,
  umpagerMemAdviseSetPreferredLocation = 3,
  umpagerMemAdviseUnsetPreferredLocation = 4,
  umpagerMemAdviseSetAccessedBy = 5,
  umpagerMemAdviseUnsetAccessedBy = 6
} umpagerMemoryAdvise;

/** Attributes for umpagerMemRangeGetAttribute (values of cudaMemRangeAttribute). */
typedef enum umpagerMemRangeAttribute {
  umpagerMemRangeAttributeReadMostly = 1,
  umpagerMemRangeAttributePreferredLocation = 2,
  umpagerMemRangeAttributeAccessedBy = 3,
  umpagerMemRangeAttributeLastPrefetchLocation = 4
} umpagerMemRangeAttribute;

/** A stream of the default runtime's device 0; 0 is the default stream. */
typedef struct umpagerStream_st* umpagerStream_t;

/**
 * Managed memory of `size` bytes in *devPtr: the CPU pointer (and, in single-pointer
 * mode, the device pointer too; else see umpagerHostGetDevicePointer).
 * flags: umpagerMemAttachGlobal or umpagerMemAttachHost.
 * Errors: InvalidValue (null devPtr, size 0, other flags), MemoryAllocation.
 */
umpagerError_t umpagerMallocManaged(void** devPtr, size_t size, unsigned int flags UMPAGER_DEFAULT(umpagerMemAttachGlobal));

/** Frees what umpagerMallocManaged or umpagerMapFile* returned (a read-write mapped file's
 * written pages go back to it first); NULL does nothing. InvalidValue: foreign, interior or freed. */
umpagerError_t umpagerFree(void* devPtr);

/** umpagerMapFile / umpagerMapFileFd flags (umpager additions: CUDA maps no files). */
#define umpagerMapFileReadOnly 0x00u  /**< the file is never written; CPU writes stay in memory */
#define umpagerMapFileReadWrite 0x01u /**< written pages go back to the file on umpagerFree */

/**
 * An umpager addition (CUDA has no file mapping): managed memory in *devPtr whose content
 * is the file at `path`, read on first touch (umpager::runtime::map_file; docs/api.md
 * "Mapped files"). *size (may be NULL) is the allocation's size, the file's rounded up to
 * the block (zeros past the file). Free with umpagerFree; the other calls take it like
 * managed memory. Errors: InvalidValue (null devPtr or path, other flags, a missing,
 * empty or non-regular file, no permission).
 */
umpagerError_t umpagerMapFile(void** devPtr, size_t* size, const char* path,
                              unsigned int flags UMPAGER_DEFAULT(umpagerMapFileReadOnly));

/**
 * umpagerMapFile of `length` bytes (0 = to the end of the file) at `offset` of the open
 * file `fd`. umpager keeps a duplicate of fd (close yours at will) and reads or writes
 * only [offset, offset+length). Errors: InvalidValue (null devPtr, other flags; fd not
 * open, not a regular file, or empty; offset not a multiple of 4096 or at or past the
 * end; offset+length past the end; length not a multiple of 4096 where the range does
 * not end at the end of the file; umpagerMapFileReadWrite on a descriptor not O_RDWR or
 * with O_APPEND; an O_WRONLY or O_PATH descriptor).
 */
umpagerError_t umpagerMapFileFd(void** devPtr, size_t* size, int fd, unsigned long long offset, size_t length,
                                unsigned int flags UMPAGER_DEFAULT(umpagerMapFileReadOnly));

/**
 * Moves [devPtr, devPtr+count) to dstDevice (umpagerCpuDeviceId or a device) in
 * `stream`'s order: asynchronous on a stream from umpagerStreamCreate, done on return
 * on stream 0. umpager rounds the range out to whole pages. Errors: InvalidValue (null/foreign/freed pointer, count 0, range past
 * the end of the allocation), InvalidDevice, InvalidResourceHandle (unknown stream),
 * MemoryAllocation (more than the device budget).
 */
umpagerError_t umpagerMemPrefetchAsync(const void* devPtr, size_t count, int dstDevice,
                                       umpagerStream_t stream UMPAGER_DEFAULT(0));

/** Attaches an allocation to `stream` (cudaStreamAttachMemAsync); length 0 = the whole allocation. */
umpagerError_t umpagerStreamAttachMemAsync(umpagerStream_t stream, void* devPtr, size_t length UMPAGER_DEFAULT(0),
                                           unsigned int flags UMPAGER_DEFAULT(umpagerMemAttachSingle));

/**
 * Advice on a range (cudaMemAdvise): read-mostly, preferred location (whole 2 MiB
 * chunks; it orders eviction). Accessed-by is NotSupported: kernels reach only memory
 * resident on their device. The device is checked only where the advice uses it.
 */
umpagerError_t umpagerMemAdvise(const void* devPtr, size_t count, umpagerMemoryAdvise advice, int device);

/**
 * One attribute of a range (cudaMemRangeGetAttribute): `data` receives an int
 * (dataSize 4) for ReadMostly, PreferredLocation and LastPrefetchLocation
 * (umpagerInvalidDeviceId where the range has none or disagrees), and dataSize/4 ints
 * for AccessedBy (all umpagerInvalidDeviceId: it is never set).
 */
umpagerError_t umpagerMemRangeGetAttribute(void* data, size_t dataSize, umpagerMemRangeAttribute attribute,
                                           const void* devPtr, size_t count);

/** The device address of a managed CPU address (cudaHostGetDevicePointer; flags must be 0). */
umpagerError_t umpagerHostGetDevicePointer(void** pDevice, void* pHost, unsigned int flags);

umpagerError_t umpagerStreamCreate(umpagerStream_t* pStream);
/** Destroys a stream; InvalidResourceHandle if unknown (CUDA's behaviour for a destroyed stream). */
umpagerError_t umpagerStreamDestroy(umpagerStream_t stream);
umpagerError_t umpagerStreamSynchronize(umpagerStream_t stream);
/** Waits for the default stream (streams have umpagerStreamSynchronize). */
umpagerError_t umpagerDeviceSynchronize(void);
/** Devices the default runtime drives (UMPAGER_DEVICES). */
umpagerError_t umpagerGetDeviceCount(int* count);

/** The last error on this thread, which is reset to umpagerSuccess (cudaGetLastError). */
umpagerError_t umpagerGetLastError(void);
/** The last error on this thread, not reset (cudaPeekAtLastError). */
umpagerError_t umpagerPeekAtLastError(void);
/** "invalid argument" etc.: the fixed text for a code (cudaGetErrorString). */
const char* umpagerGetErrorString(umpagerError_t error);
/** "umpagerErrorInvalidValue" etc. (cudaGetErrorName). */
const char* umpagerGetErrorName(umpagerError_t error);
/** umpager addition: what exactly the last failure on this thread was ("" if none). */
const char* umpagerGetLastErrorMessage(void);

#ifdef __cplusplus
}  // extern "C"

/** Typed form, as cuda_runtime.h has: `float* a; umpagerMallocManaged(&a, n * sizeof(float));` */
template <class T>
inline umpagerError_t umpagerMallocManaged(T** devPtr, size_t size, unsigned int flags = umpagerMemAttachGlobal) {
  return umpagerMallocManaged(reinterpret_cast<void**>(devPtr), size, flags);
}
#endif

#undef UMPAGER_DEFAULT

#endif /* UMPAGER_UVM_H */
