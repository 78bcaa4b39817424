/* NCCL for data-parallel GPU ranks, loaded at run time (cuda/cuda_nccl.h). Only the handful of
 * entry points memlab uses are looked up; their types come from nccl.h when the build finds it,
 * else the build says that multi-rank GPU runs need it. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "cuda/cuda_check.cuh"
#include "cuda/cuda_nccl.h"

#if __has_include(<nccl.h>)
#include <nccl.h>

static_assert(NCCL_UNIQUE_ID_BYTES == CUDA_NCCL_ID_BYTES, "NCCL's unique id size changed");

static struct {
    void *lib;
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*get_version)(int *);
    const char *(*error_string)(ncclResult_t);
    ncclComm_t comm;
    char version[32];
} nccl;

extern "C" int cuda_nccl_load(char *msg, size_t len)
{
    if (nccl.lib)
        return 0;
    void *lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(msg, len, "GPU ranks need NCCL: cannot load libnccl.so.2 (%s); install NCCL 2.10 or newer", dlerror());
        return -1;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"ncclGetUniqueId", (void **)&nccl.get_unique_id}, {"ncclCommInitRank", (void **)&nccl.comm_init_rank},
        {"ncclAllReduce", (void **)&nccl.all_reduce},      {"ncclGetVersion", (void **)&nccl.get_version},
        {"ncclGetErrorString", (void **)&nccl.error_string},
    };
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++)
        if (!(*syms[i].slot = dlsym(lib, syms[i].name))) {
            snprintf(msg, len, "GPU ranks need NCCL 2.10 or newer: libnccl.so.2 has no %s", syms[i].name);
            dlclose(lib);
            return -1;
        }
    int v = 0;
    nccl.get_version(&v);
    /* ncclAvg came with 2.10 (version code 21000) */
    if (v < 21000) {
        snprintf(msg, len, "GPU ranks need NCCL 2.10 or newer (for ncclAvg); libnccl.so.2 is version code %d", v);
        dlclose(lib);
        return -1;
    }
    snprintf(nccl.version, sizeof nccl.version, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    nccl.lib = lib;
    return 0;
}

#define NCCL_CHECK(call)                                                                            \
    do {                                                                                            \
        ncclResult_t r_ = (call);                                                                   \
        if (r_ != ncclSuccess)                                                                      \
            fatal("nccl: %s failed at %s:%d: %s", #call, __FILE__, __LINE__, nccl.error_string(r_)); \
    } while (0)

extern "C" int cuda_nccl_unique_id(unsigned char id[CUDA_NCCL_ID_BYTES], char *msg, size_t len)
{
    if (cuda_nccl_load(msg, len) != 0)
        return -1;
    ncclUniqueId u;
    ncclResult_t r = nccl.get_unique_id(&u);
    if (r != ncclSuccess) {
        snprintf(msg, len, "NCCL: ncclGetUniqueId failed: %s", nccl.error_string(r));
        return -1;
    }
    memcpy(id, u.internal, CUDA_NCCL_ID_BYTES);
    return 0;
}

extern "C" int cuda_nccl_open(const unsigned char id[CUDA_NCCL_ID_BYTES], int rank, int size, char *msg, size_t len)
{
    if (nccl.comm)
        return 0;
    if (cuda_nccl_load(msg, len) != 0)
        return -1;
    ncclUniqueId u;
    memcpy(u.internal, id, CUDA_NCCL_ID_BYTES);
    ncclResult_t r = nccl.comm_init_rank(&nccl.comm, size, u, rank);
    if (r != ncclSuccess) {
        nccl.comm = NULL;
        snprintf(msg, len, "NCCL: rank %d of %d could not join the communicator: %s", rank, size, nccl.error_string(r));
        return -1;
    }
    return 0;
}

extern "C" void cuda_nccl_mean(float *dev, size_t n)
{
    if (!nccl.comm)
        fatal("internal: cuda_nccl_mean before cuda_nccl_open");
    NCCL_CHECK(nccl.all_reduce(dev, dev, n, ncclFloat32, ncclAvg, nccl.comm, 0));
}

extern "C" const char *cuda_nccl_version(void) { return nccl.comm ? nccl.version : ""; }

#else /* no nccl.h at build time */

static const char *const missing = "GPU ranks need NCCL, and this memlab was built without nccl.h "
                                   "(install NCCL's headers and rebuild: docs/distributed.md)";

extern "C" int cuda_nccl_load(char *msg, size_t len)
{
    snprintf(msg, len, "%s", missing);
    return -1;
}

extern "C" int cuda_nccl_unique_id(unsigned char id[CUDA_NCCL_ID_BYTES], char *msg, size_t len)
{
    (void)id;
    return cuda_nccl_load(msg, len);
}

extern "C" int cuda_nccl_open(const unsigned char id[CUDA_NCCL_ID_BYTES], int rank, int size, char *msg, size_t len)
{
    (void)id, (void)rank, (void)size;
    return cuda_nccl_load(msg, len);
}

extern "C" void cuda_nccl_mean(float *dev, size_t n) { (void)dev, (void)n, fatal("internal: %s", missing); }
extern "C" const char *cuda_nccl_version(void) { return ""; }

#endif
