/* dist.h over MPI when the build has it (MEMLAB_MPI, set by the Makefile where mpicc is found),
 * else a single process. */
#include "core/dist.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The GPU side exists only in the float build of a CUDA-enabled make (as core/device.c). */
#if defined(MEMLAB_CUDA) && !defined(MEMLAB_DOUBLE)
#define HAVE_CUDA 1
#include "cuda/cuda_nccl.h"
#else
#define HAVE_CUDA 0
#endif

/* Ranks in the launcher's environment: Open MPI's mpirun, PMI/PMIx launchers (MPICH's hydra,
 * Slurm's srun); 0 when not started by one. */
static int launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

void dist_hide_launcher(void)
{
    extern char **environ;
    static const char *const prefixes[] = {"OMPI_", "PMI_", "PMIX_"};
    for (int again = 1; again;) {   /* unsetenv reshuffles environ: rescan after each removal */
        again = 0;
        for (char **v = environ; v && *v && !again; v++)
            for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++)
                if (!strncmp(*v, prefixes[p], strlen(prefixes[p]))) {
                    const char *eq = strchr(*v, '=');
                    char name[256];
                    size_t len = eq ? (size_t)(eq - *v) : strlen(*v);
                    if (len >= sizeof name)
                        continue;
                    memcpy(name, *v, len);
                    name[len] = 0;
                    unsetenv(name);
                    again = 1;
                    break;
                }
    }
}

void dist_mean_real(real *buf, size_t n)
{
    if (dist_size() == 1)
        return;
    dist_sum_real(buf, n);
    const real inv = (real)(1.0 / dist_size());
    for (size_t i = 0; i < n; i++)
        buf[i] *= inv;
}

void dist_mean_double(double *buf, size_t n)
{
    if (dist_size() == 1)
        return;
    dist_sum_double(buf, n);
    for (size_t i = 0; i < n; i++)
        buf[i] /= dist_size();
}

int dist_rows(int B, int *first)
{
    const long long N = dist_size(), r = dist_rank();
    *first = (int)(r * B / N);
    return (int)((r + 1) * B / N) - *first;
}

uint64_t dist_stream(uint64_t stream) { return stream + ((uint64_t)dist_rank() << 32); }

double dist_weight(double count)
{
    if (dist_size() == 1)
        return 1;
    double total = count;
    dist_sum_double(&total, 1);
    return total > 0 ? dist_size() * count / total : 1;
}

int dist_agree_err(int rc, err_t *e)
{
    if (dist_agree_ok(rc == 0))
        return 0;
    if (rc == 0)
        err_set(e, "another data-parallel rank failed at this point of the run");
    return -1;
}

void dist_mean_on(device_kind d, real *buf, size_t n)
{
    if (d == DEV_CPU) {
        dist_mean_real(buf, n);
        return;
    }
    if (dist_size() == 1)
        return;
#if HAVE_CUDA
    cuda_nccl_mean(buf, n);
#else
    fatal("internal: dist_mean_on a GPU buffer in a build without CUDA");
#endif
}

#ifdef MEMLAB_MPI
#include <mpi.h>

static int joined, rank, size = 1, local_rank;

#ifdef MEMLAB_DOUBLE
#define MPI_REAL_T MPI_DOUBLE
#else
#define MPI_REAL_T MPI_FLOAT
#endif

static void check(int rc, const char *what)
{
    if (rc != MPI_SUCCESS)
        fatal("MPI: %s failed (error %d)", what, rc);
}

void dist_init(int *argc, char ***argv)
{
    if (joined || launcher_size() == 0)
        return;
    check(MPI_Init(argc, argv), "MPI_Init");
    joined = 1;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
    MPI_Comm host;   /* the ranks that share this host's memory, hence its GPUs */
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &host), "MPI_Comm_split_type");
    check(MPI_Comm_rank(host, &local_rank), "MPI_Comm_rank");
    MPI_Comm_free(&host);
    atexit(dist_finalize);
}

void dist_finalize(void)
{
    if (!joined)
        return;
    joined = 0;
    MPI_Finalize();
}

const char *dist_transport(void) { return "mpi"; }

/* MPI counts are ints: large buffers go in pieces. In place over every rank: the sum (bcast 0) or
 * rank 0's values (bcast 1) of n elements of elem bytes. */
#define DIST_CHUNK ((size_t)1 << 28)

static void collective(void *buf, size_t n, MPI_Datatype type, size_t elem, int bcast)
{
    for (size_t at = 0; joined && size > 1 && at < n; at += DIST_CHUNK) {
        const int len = (int)(n - at < DIST_CHUNK ? n - at : DIST_CHUNK);
        char *p = (char *)buf + at * elem;
        if (bcast)
            check(MPI_Bcast(p, len, type, 0, MPI_COMM_WORLD), "MPI_Bcast");
        else
            check(MPI_Allreduce(MPI_IN_PLACE, p, len, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
}

void dist_sum_real(real *buf, size_t n) { collective(buf, n, MPI_REAL_T, sizeof *buf, 0); }
void dist_sum_double(double *buf, size_t n) { collective(buf, n, MPI_DOUBLE, sizeof *buf, 0); }
void dist_broadcast_real(real *buf, size_t n) { collective(buf, n, MPI_REAL_T, sizeof *buf, 1); }

int dist_agree_ok(int ok)
{
    if (!joined || size == 1)
        return ok;
    int all = ok ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    return all;
}

int dist_rank(void) { return rank; }
int dist_size(void) { return size; }
int dist_local_rank(void) { return local_rank; }

int dist_open_device(device_kind d, err_t *e)
{
    if (d == DEV_CPU || size == 1)
        return 0;
#if HAVE_CUDA
    /* Every rank loads NCCL and they agree before any joins: ncclCommInitRank waits for all. */
    char msg[ERR_MAX - 32] = "";
    int ok = cuda_nccl_load(msg, sizeof msg) == 0;
    if (!dist_agree_ok(ok))
        return err_set(e, "%s", ok ? "another rank could not load NCCL" : msg);
    unsigned char id[CUDA_NCCL_ID_BYTES] = {0};
    ok = rank != 0 || cuda_nccl_unique_id(id, msg, sizeof msg) == 0;
    if (!dist_agree_ok(ok))
        return err_set(e, "%s", ok ? "rank 0 could not make an NCCL unique id" : msg);
    check(MPI_Bcast(id, CUDA_NCCL_ID_BYTES, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    ok = cuda_nccl_open(id, rank, size, msg, sizeof msg) == 0;
    if (!dist_agree_ok(ok))
        return err_set(e, "%s", ok ? "another rank could not join the NCCL communicator" : msg);
    return 0;
#else
    return err_set(e, "--device cuda: this memlab was built without CUDA");
#endif
}

#else /* a single process */

void dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* N copies of one run would each write the same files: refuse before anything is written. */
    if (launcher_size() > 1)
        fatal("started as one of %d ranks, but this memlab was built without MPI: install libopenmpi-dev "
              "and rebuild (make clean && make; docs/distributed.md)", launcher_size());
}
void dist_finalize(void) {}
const char *dist_transport(void) { return "none"; }
void dist_sum_real(real *buf, size_t n)
{
    (void)buf;
    (void)n;
}
void dist_sum_double(double *buf, size_t n)
{
    (void)buf;
    (void)n;
}
void dist_broadcast_real(real *buf, size_t n)
{
    (void)buf;
    (void)n;
}
int dist_agree_ok(int ok) { return ok; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_local_rank(void) { return 0; }
int dist_open_device(device_kind d, err_t *e)
{
    (void)d;
    (void)e;
    return 0;
}

#endif
