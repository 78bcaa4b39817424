/* Data-parallel processes: the one small interface every training loop talks to, over whatever
 * transport the build has (docs/distributed.md). A run launched by `mpirun -np N` (or a cluster's
 * srun) on a build with MPI is N ranks; anything else is a single process of rank 0 of 1, and every
 * call below is then a no-op or the identity, so that code written for N ranks runs unchanged.
 *
 * The ranks run the same command on the same inputs. Each takes its share of the global batch;
 * gradients are summed over the ranks and divided by their number before clipping and the
 * optimiser step (dist_mean_on), so that N ranks follow the single-process run. Parameters start
 * identical (rank 0's are broadcast). Only rank 0 writes results. A rank that fails says why on
 * stderr and the ranks agree to stop (dist_agree_ok) instead of waiting for each other forever.
 *
 * The process-wide state (the communicator) is the transport's own, initialised once. */
#ifndef MEMLAB_DIST_H
#define MEMLAB_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/device.h"
#include "core/error.h"
#include "core/real.h"

/* Joins the launcher's ranks when the process was started by one (MPI's environment variables);
 * does nothing otherwise. Call once, first thing in main. */
void dist_init(int *argc, char ***argv);
/* Leaves the group (MPI_Finalize); registered with atexit by dist_init. */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* This rank's number among the ranks on its host (0 for a single process): the GPU it takes
 * (cuda_ctx_open). */
int dist_local_rank(void);
/* The transport the build has: "mpi" or "none". */
const char *dist_transport(void);

/* In place, over every rank: the sum of buf. */
void dist_sum_real(real *buf, size_t n);
void dist_sum_double(double *buf, size_t n);
/* In place, over every rank: the mean of buf (the sum divided by the number of ranks): a
 * data-parallel step's gradients and loss. */
void dist_mean_real(real *buf, size_t n);
void dist_mean_double(double *buf, size_t n);
/* dist_mean_real for n values that live on device d: on the GPU (one process per GPU), NCCL's
 * all-reduce of the device buffer, queued behind the kernels that wrote it. dist_open_device(d)
 * first. */
void dist_mean_on(device_kind d, real *buf, size_t n);
/* Sets up the collectives of device d for this run's ranks, after device_open(d): for CUDA with
 * more than one rank, loads NCCL on every rank and joins them in one communicator (rank 0's unique
 * id handed out over MPI). Every rank must call it and every rank gets the same answer: 0, or -1
 * with one line (NCCL missing on some rank, ...). Nothing to do for the CPU or one process. */
int dist_open_device(device_kind d, err_t *e);
/* This rank's rows of a step's batch of B rows that every rank draws whole: [*first, *first + the
 * result), rank r's being [r B / N, (r + 1) B / N), so that the ranks' rows in order are the batch.
 * Equal shares when N divides B; a rank may get none when B < N. */
int dist_rows(int B, int *first);
/* This rank's own random stream for a stream number (dropout masks): rank 0's is the stream itself,
 * so that a single process draws what it always drew, and rank r's is stream + r * 2^32. */
uint64_t dist_stream(uint64_t stream);
/* The weight of this rank's loss, a mean over its `count` targets, in the mean over the ranks: N
 * times its share of every rank's targets (a collective; 1 for a single process, and 1 when no rank
 * has a target). A rank that scales its mean loss and its gradients by it before dist_mean makes the
 * mean over the ranks the mean over all the targets even when their counts differ by rank
 * (ignored targets, docs/distributed.md). */
double dist_weight(double count);
/* Rank 0's buf on every rank. */
void dist_broadcast_real(real *buf, size_t n);
/* Removes the launcher's variables (OMPI_*, PMI_*, PMIX_*) from this process's environment, so that
 * a child it starts afterwards (a regbench sweep's point) runs as a single process of its own
 * instead of trying to join the ranks. Call after dist_init. */
void dist_hide_launcher(void);
/* Whether every rank's ok is true (a collective: every rank must call it at the same point). Used
 * after each rank checks its inputs, and wherever one rank may fail alone (a file only it writes),
 * so that all of them stop together. */
int dist_agree_ok(int ok);
/* dist_agree_ok for a step that returns rc (0, or -1 with e set): 0 when it succeeded on every rank,
 * else -1, e on a rank where it succeeded saying that another rank failed. */
int dist_agree_err(int rc, err_t *e);

#endif
