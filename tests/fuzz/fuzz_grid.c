/* RegBench grid files (experiments/regbench_grid.c): load over the default grid, expand into
 * points, write the grid back and read it again: the axes must come back as they were. The
 * option ranges are those of `memlab regbench` (experiments/regbench.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "regbench_grid.h"

static long long layers, d, heads, epochs;
static double lr, wd;
static const opt_spec opts[] = {
    {"layers", 0, OPT_INT, &layers, "2", "", NULL, 1, 1000, "L"},
    {"d", 0, OPT_INT, &d, "64", "", NULL, 1, 65536, "D"},
    {"heads", 0, OPT_INT, &heads, "4", "", NULL, 1, 4096, "H"},
    {"lr", 0, OPT_DOUBLE, &lr, "2e-3", "", NULL, 1e-12, 10, "LR"},
    {"wd", 0, OPT_DOUBLE, &wd, "0.1", "", NULL, 0, 10, "WD"},
    {"epochs", 0, OPT_INT, &epochs, "30", "", NULL, 1, 1e6, "N"},
};
#define NOPTS ((int)(sizeof opts / sizeof *opts))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const models[] = {"mosaic", "lstm", "ngram"};
    static const regbench_grid_use uses[] = {REGBENCH_GRID_ALL, REGBENCH_GRID_NO_HEADS, REGBENCH_GRID_NONE};
    static const long long sizes[] = {100, 500};
    const char *path = fuzz_file("g.yaml", data, size);
    regbench_grid g, back;
    err_t e;
    regbench_grid_default(&g, 2e-3, 30);
    if (regbench_grid_load(&g, path, opts, NOPTS, &e) == 0) {
        regbench_point *pts;
        int n = regbench_grid_points(&g, models, uses, 3, sizes, 2, 1, &pts, &e);
        char line[512];
        for (int i = 0; i < n; i++)
            regbench_point_describe(&pts[i], line, sizeof line);
        free(pts);
        char out[600];
        snprintf(out, sizeof out, "%s/w.yaml", fuzz_dir());
        if (regbench_grid_write(&g, out, &e) != 0)
            fuzz_fail("%s", e.msg);
        regbench_grid_default(&back, 1, 1);
        if (regbench_grid_load(&back, out, opts, NOPTS, &e) != 0)
            fuzz_fail("the written grid does not load: %s", e.msg);
        for (int k = 0; k < REGBENCH_NAXES; k++) {
            if (back.ax[k].n != g.ax[k].n)
                fuzz_fail("axis %d: %d values written, %d read back", k, g.ax[k].n, back.ax[k].n);
            for (int i = 0; i < g.ax[k].n; i++)
                if (back.ax[k].v[i] != g.ax[k].v[i])
                    fuzz_fail("axis %d value %d: %.17g read back as %.17g", k, i, g.ax[k].v[i], back.ax[k].v[i]);
        }
        regbench_grid_free(&back);
        remove(out);
    }
    regbench_grid_free(&g);
    return 0;
}
