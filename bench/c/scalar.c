/* C scalar fmpq loops: the MLP's forward, loss and backward one sample at a time, one
 * fmpq_addmul / fmpq_mul per scalar operation (each canonicalises, like the Python loops).
 *
 * usage: bench_scalar INSTANCE_FILE MAX_REPS BUDGET_SECONDS
 */
#include "instance_io.h"

#include <stdio.h>
#include <stdlib.h>

static void forward_backward(const instance_t *inst, result_t *res)
{
    slong depth = inst->depth;
    const slong *n = inst->widths;
    /* h[l] is layer l's output (h[0] the sample), z[l] layer l+1's pre-activation. */
    fmpq **h = flint_malloc((depth + 1) * sizeof(fmpq *));
    fmpq **z = flint_malloc(depth * sizeof(fmpq *));
    slong widest = 0;
    for (slong l = 0; l <= depth; l++) {
        h[l] = _fmpq_vec_init(n[l]);
        widest = FLINT_MAX(widest, n[l]);
        if (l < depth)
            z[l] = _fmpq_vec_init(n[l + 1]);
    }
    fmpq *d = _fmpq_vec_init(widest), *g = _fmpq_vec_init(widest);
    fmpq_t r;
    fmpq_init(r);

    for (slong s = 0; s < inst->batch; s++) {
        for (slong j = 0; j < n[0]; j++)
            fmpq_set(h[0] + j, inst->inputs + s * n[0] + j);
        for (slong l = 0; l < depth; l++) {
            const fmpq *w = inst->weights[l];
            for (slong i = 0; i < n[l + 1]; i++) {
                fmpq *zi = z[l] + i;
                fmpq_set(zi, inst->biases[l] + i);
                for (slong j = 0; j < n[l]; j++)
                    fmpq_addmul(zi, w + i * n[l] + j, h[l] + j);
                if (l == depth - 1)
                    fmpq_set(h[l + 1] + i, zi);
                else if (inst->activation == ACT_SQUARE)
                    fmpq_mul(h[l + 1] + i, zi, zi);
                else if (fmpq_sgn(zi) > 0)
                    fmpq_set(h[l + 1] + i, zi);
                else
                    fmpq_zero(h[l + 1] + i);
            }
        }
        /* Loss and d = dL/dz_L = 2 (h_L - y). */
        for (slong i = 0; i < n[depth]; i++) {
            fmpq_sub(r, h[depth] + i, inst->labels + s * n[depth] + i);
            fmpq_addmul(res->loss, r, r);
            fmpq_mul_2exp(d + i, r, 1);
        }
        for (slong l = depth - 1; l >= 0; l--) {
            fmpq *gW = res->grads_W[l];
            for (slong i = 0; i < n[l + 1]; i++) {
                fmpq_add(res->grads_b[l] + i, res->grads_b[l] + i, d + i);
                for (slong j = 0; j < n[l]; j++)
                    fmpq_addmul(gW + i * n[l] + j, d + i, h[l] + j);
            }
            if (l == 0)
                break;
            const fmpq *w = inst->weights[l];
            for (slong j = 0; j < n[l]; j++) {
                fmpq_zero(g + j);
                for (slong i = 0; i < n[l + 1]; i++)
                    fmpq_addmul(g + j, w + i * n[l] + j, d + i);
            }
            /* d becomes dL/dz of layer l: g times sigma'(z) of that layer (stored in z[l-1]). */
            for (slong j = 0; j < n[l]; j++) {
                const fmpq *zj = z[l - 1] + j;
                if (inst->activation == ACT_SQUARE) {
                    fmpq_mul(d + j, zj, g + j);
                    fmpq_mul_2exp(d + j, d + j, 1);
                } else if (fmpq_sgn(zj) > 0) {
                    fmpq_set(d + j, g + j);
                } else {
                    fmpq_zero(d + j);
                }
            }
        }
    }

    fmpq_clear(r);
    _fmpq_vec_clear(d, widest);
    _fmpq_vec_clear(g, widest);
    for (slong l = 0; l <= depth; l++) {
        _fmpq_vec_clear(h[l], n[l]);
        if (l < depth)
            _fmpq_vec_clear(z[l], n[l + 1]);
    }
    flint_free(h);
    flint_free(z);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s INSTANCE_FILE MAX_REPS BUDGET_SECONDS\n", argv[0]);
        return 2;
    }
    instance_t inst;
    instance_read(&inst, argv[1]);
    result_t res;
    result_init(&res, &inst);
    repeat_t rep;
    repeat_init(&rep, atoi(argv[2]), atof(argv[3]));
    while (repeat_more(&rep)) {
        result_zero(&res, &inst);
        double start = now_seconds();
        forward_backward(&inst, &res);
        repeat_record(&rep, now_seconds() - start);
    }
    result_print(&res, &inst, rep.best, rep.reps);
    result_clear(&res, &inst);
    instance_clear(&inst);
    flint_cleanup();
    return 0;
}
