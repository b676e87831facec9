/* Vector add through the C API: c = a + b on the device, in managed memory the
 * CPU initialises and checks through the same pointers.
 *
 *   vector_add [n]        (default 16M elements)
 *
 * The kernel is in vector_add_kernel.cpp (C++, compiled as CUDA when umpager has
 * CUDA), as a CUDA C program keeps its kernels in a .cu file. Everything else is C.
 */
#include <stdio.h>
#include <stdlib.h>

#include "umpager/umpager.h"

/* vector_add_kernel.cpp: enqueues c[i] = a[i] + b[i] on `stream`; 0 or -1 (message on stderr). */
int vector_add_on_device(umpager_runtime* rt, umpager_stream* stream, const float* a, const float* b, float* c,
                         size_t n);

#define CHECK(call)                                                                              \
  do {                                                                                           \
    int rc_ = (call);                                                                            \
    if (rc_ != 0) {                                                                              \
      fprintf(stderr, "vector_add: %s failed (%d): %s\n", #call, rc_, umpager_last_error());    \
      return 1;                                                                                  \
    }                                                                                            \
  } while (0)

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)16 << 20;
  const size_t bytes = n * sizeof(float);
  if (n == 0) {
    fprintf(stderr, "usage: vector_add [n > 0]\n");
    return 2;
  }
  umpager_runtime* rt = NULL;
  CHECK(umpager_runtime_create(NULL, &rt)); /* NULL: configured by UMPAGER_* variables */
  float *a = NULL, *b = NULL, *c = NULL;
  CHECK(umpager_alloc(rt, bytes, 0, (void**)&a));
  CHECK(umpager_alloc(rt, bytes, 0, (void**)&b));
  CHECK(umpager_alloc(rt, bytes, 0, (void**)&c));
  umpager_stream* s = NULL;
  CHECK(umpager_stream_create(rt, &s));

  for (size_t i = 0; i < n; ++i) { /* the CPU writes the inputs in place */
    a[i] = (float)(i % 1000);
    b[i] = 2.0f * (float)(i % 1000);
  }
  /* Declare what the kernel reads and writes: umpager makes it resident on the device
   * and keeps it there until the stream has run the kernel. Then wait for it. */
  const umpager_access set[] = {{a, bytes, UMPAGER_ACCESS_READ},
                                {b, bytes, UMPAGER_ACCESS_READ},
                                {c, bytes, UMPAGER_ACCESS_WRITE}};
  umpager_declaration* d = NULL;
  CHECK(umpager_declare_begin(rt, set, 3, s, &d));
  CHECK(vector_add_on_device(rt, s, a, b, c, n));
  CHECK(umpager_declare_end(d));
  CHECK(umpager_stream_synchronize(s));

  size_t wrong = 0; /* the CPU reads the result: its pages fault back from the device */
  for (size_t i = 0; i < n; ++i) wrong += c[i] != 3.0f * (float)(i % 1000);

  umpager_stats st;
  CHECK(umpager_get_stats(rt, &st));
  printf("c = a + b over %zu elements: %llu read faults, %.1f MiB to device, %.1f MiB to host\n", n,
         (unsigned long long)st.read_faults, st.bytes_to_device / 1048576.0, st.bytes_to_host / 1048576.0);
  CHECK(umpager_stream_destroy(s));
  CHECK(umpager_free(rt, a));
  CHECK(umpager_free(rt, b));
  CHECK(umpager_free(rt, c));
  CHECK(umpager_runtime_destroy(rt));
  if (wrong != 0) {
    fprintf(stderr, "vector_add: %zu elements wrong\n", wrong);
    return 1;
  }
  printf("OK\n");
  return 0;
}
