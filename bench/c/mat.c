/* C on FLINT 2.9's fmpq_mat with the samples as matrix columns, and the integer-product floor.
 *
 * mat:   Z_l = W_l H_(l-1) + b_l 1^T, H_l = sigma(Z_l) entrywise; D_L = 2 (Z_L - Y);
 *        dW_l = D_l H_(l-1)^T, db_l = row sums of D_l, D_(l-1) = (W_l^T D_l) * sigma'(Z_(l-1)).
 * floor: the same computation once (untimed) to record the 3L - 1 products it makes
 *        (W_l H_(l-1), D_l H_(l-1)^T, W_l^T D_l); their operands cleared of denominators, the
 *        left one row by row and the right one column by column; then only the fmpz_mat_mul
 *        calls on those integer matrices are timed (also the first L, the forward ones,
 *        alone: forward_time). No result is printed.
 * sound: the floor, plus what every exact method pays on top of it to give its output: each
 *        weight-gradient entry (D_l H_(l-1)^T) in lowest terms, one fmpz_gcd with its
 *        denominator (the row's times the column's) and two exact divisions. Time only.
 *
 * usage: bench_mat mat|floor|sound INSTANCE_FILE MAX_REPS BUDGET_SECONDS
 */
#include "instance_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flint/fmpq_mat.h>
#include <flint/fmpz_mat.h>
#include <flint/fmpz_vec.h>

/* The instance as matrices (built untimed, as python-flint's peer does). */
typedef struct {
    fmpq_mat_struct *weights;    /* W_l */
    fmpq_mat_struct *weights_t;  /* W_l^T */
    fmpq_mat_t inputs;           /* X^T: n_0 x B */
    fmpq_mat_t labels;           /* Y^T: n_L x B */
} matrices_t;

/* The operand pairs of every product, copied as they are multiplied (floor mode only). */
typedef struct {
    slong count;
    fmpq_mat_struct *left;
    fmpq_mat_struct *right;
} products_t;

static void matrices_init(matrices_t *m, const instance_t *inst)
{
    slong depth = inst->depth, batch = inst->batch;
    const slong *n = inst->widths;
    m->weights = flint_malloc(depth * sizeof(fmpq_mat_struct));
    m->weights_t = flint_malloc(depth * sizeof(fmpq_mat_struct));
    for (slong l = 0; l < depth; l++) {
        fmpq_mat_init(m->weights + l, n[l + 1], n[l]);
        fmpq_mat_init(m->weights_t + l, n[l], n[l + 1]);
        for (slong i = 0; i < n[l + 1]; i++)
            for (slong j = 0; j < n[l]; j++)
                fmpq_set(fmpq_mat_entry(m->weights + l, i, j), inst->weights[l] + i * n[l] + j);
        fmpq_mat_transpose(m->weights_t + l, m->weights + l);
    }
    fmpq_mat_init(m->inputs, n[0], batch);
    fmpq_mat_init(m->labels, n[depth], batch);
    for (slong s = 0; s < batch; s++) {
        for (slong j = 0; j < n[0]; j++)
            fmpq_set(fmpq_mat_entry(m->inputs, j, s), inst->inputs + s * n[0] + j);
        for (slong i = 0; i < n[depth]; i++)
            fmpq_set(fmpq_mat_entry(m->labels, i, s), inst->labels + s * n[depth] + i);
    }
}

static void matrices_clear(matrices_t *m, const instance_t *inst)
{
    for (slong l = 0; l < inst->depth; l++) {
        fmpq_mat_clear(m->weights + l);
        fmpq_mat_clear(m->weights_t + l);
    }
    flint_free(m->weights);
    flint_free(m->weights_t);
    fmpq_mat_clear(m->inputs);
    fmpq_mat_clear(m->labels);
}

static void multiply(fmpq_mat_t c, const fmpq_mat_t a, const fmpq_mat_t b, products_t *keep)
{
    if (keep != NULL) {
        fmpq_mat_init_set(keep->left + keep->count, a);
        fmpq_mat_init_set(keep->right + keep->count, b);
        keep->count++;
    }
    fmpq_mat_mul(c, a, b);
}

/* D_(l-1) = G * sigma'(Z) entrywise, into d (already initialised with G's shape). */
static void activation_backward(fmpq_mat_t d, const fmpq_mat_t g, const fmpq_mat_t z, int activation)
{
    for (slong i = 0; i < fmpq_mat_nrows(g); i++)
        for (slong s = 0; s < fmpq_mat_ncols(g); s++) {
            fmpq *out = fmpq_mat_entry(d, i, s);
            const fmpq *gi = fmpq_mat_entry(g, i, s), *zi = fmpq_mat_entry(z, i, s);
            if (activation == ACT_SQUARE) {
                fmpq_mul(out, zi, gi);
                fmpq_mul_2exp(out, out, 1);
            } else if (fmpq_sgn(zi) > 0) {
                fmpq_set(out, gi);
            } else {
                fmpq_zero(out);
            }
        }
}

static void forward_backward(const instance_t *inst, const matrices_t *m, result_t *res,
                             products_t *keep)
{
    slong depth = inst->depth, batch = inst->batch;
    const slong *n = inst->widths;
    /* in[l] is layer l+1's input H_l (in[0] = X^T); z[l] its pre-activation. */
    const fmpq_mat_struct **in = flint_malloc(depth * sizeof(fmpq_mat_struct *));
    fmpq_mat_struct *hidden = flint_malloc(depth * sizeof(fmpq_mat_struct));
    fmpq_mat_struct *z = flint_malloc(depth * sizeof(fmpq_mat_struct));
    in[0] = m->inputs;
    for (slong l = 0; l < depth; l++) {
        fmpq_mat_init(z + l, n[l + 1], batch);
        multiply(z + l, m->weights + l, in[l], keep);
        for (slong i = 0; i < n[l + 1]; i++)
            for (slong s = 0; s < batch; s++)
                fmpq_add(fmpq_mat_entry(z + l, i, s), fmpq_mat_entry(z + l, i, s),
                         inst->biases[l] + i);
        if (l == depth - 1)
            break;
        fmpq_mat_init(hidden + l, n[l + 1], batch);
        for (slong i = 0; i < n[l + 1]; i++)
            for (slong s = 0; s < batch; s++) {
                fmpq *h = fmpq_mat_entry(hidden + l, i, s);
                const fmpq *zi = fmpq_mat_entry(z + l, i, s);
                if (inst->activation == ACT_SQUARE)
                    fmpq_mul(h, zi, zi);
                else if (fmpq_sgn(zi) > 0)
                    fmpq_set(h, zi);
            }
        in[l + 1] = hidden + l;
    }

    fmpq_mat_t d, d_next, g, h_t, grad_w;
    fmpq_mat_init(d, n[depth], batch);
    for (slong i = 0; i < n[depth]; i++)
        for (slong s = 0; s < batch; s++) {
            fmpq *r = fmpq_mat_entry(d, i, s);
            fmpq_sub(r, fmpq_mat_entry(z + depth - 1, i, s), fmpq_mat_entry(m->labels, i, s));
            fmpq_addmul(res->loss, r, r);
            fmpq_mul_2exp(r, r, 1);
        }
    for (slong l = depth - 1; l >= 0; l--) {
        fmpq_mat_init(h_t, batch, n[l]);
        fmpq_mat_init(grad_w, n[l + 1], n[l]);
        fmpq_mat_transpose(h_t, in[l]);
        multiply(grad_w, d, h_t, keep);
        for (slong i = 0; i < n[l + 1]; i++) {
            for (slong j = 0; j < n[l]; j++)
                fmpq_swap(res->grads_W[l] + i * n[l] + j, fmpq_mat_entry(grad_w, i, j));
            for (slong s = 0; s < batch; s++)
                fmpq_add(res->grads_b[l] + i, res->grads_b[l] + i, fmpq_mat_entry(d, i, s));
        }
        fmpq_mat_clear(h_t);
        fmpq_mat_clear(grad_w);
        if (l > 0) {
            fmpq_mat_init(g, n[l], batch);
            fmpq_mat_init(d_next, n[l], batch);
            multiply(g, m->weights_t + l, d, keep);
            activation_backward(d_next, g, z + l - 1, inst->activation);
            fmpq_mat_swap(d, d_next);
            fmpq_mat_clear(d_next);
            fmpq_mat_clear(g);
        }
    }
    fmpq_mat_clear(d);

    for (slong l = 0; l < depth; l++) {
        fmpq_mat_clear(z + l);
        if (l < depth - 1)
            fmpq_mat_clear(hidden + l);
    }
    flint_free(z);
    flint_free(hidden);
    flint_free((void *) in);
}

static void run_mat(const instance_t *inst, int max_reps, double budget)
{
    matrices_t m;
    matrices_init(&m, inst);
    result_t res;
    result_init(&res, inst);
    repeat_t rep;
    repeat_init(&rep, max_reps, budget);
    while (repeat_more(&rep)) {
        result_zero(&res, inst);
        double start = now_seconds();
        forward_backward(inst, &m, &res, NULL);
        repeat_record(&rep, now_seconds() - start);
    }
    result_print(&res, inst, rep.best, rep.reps);
    result_clear(&res, inst);
    matrices_clear(&m, inst);
}

/* Entry (i, j) of c over den_rows[i] den_cols[j], in lowest terms (into num, den). */
static void canonical_entries(const fmpz_mat_t c, const fmpz *den_rows, const fmpz *den_cols,
                              fmpz_t num, fmpz_t den, fmpz_t g)
{
    for (slong i = 0; i < fmpz_mat_nrows(c); i++)
        for (slong j = 0; j < fmpz_mat_ncols(c); j++) {
            fmpz_mul(den, den_rows + i, den_cols + j);
            fmpz_gcd(g, fmpz_mat_entry(c, i, j), den);
            fmpz_divexact(num, fmpz_mat_entry(c, i, j), g);
            fmpz_divexact(den, den, g);
        }
}

static void run_floor(const instance_t *inst, int max_reps, double budget, int sound)
{
    matrices_t m;
    matrices_init(&m, inst);
    result_t res;
    result_init(&res, inst);
    slong capacity = 3 * inst->depth;
    products_t keep = {0, flint_malloc(capacity * sizeof(fmpq_mat_struct)),
                       flint_malloc(capacity * sizeof(fmpq_mat_struct))};
    forward_backward(inst, &m, &res, &keep);
    result_clear(&res, inst);
    matrices_clear(&m, inst);

    fmpz_mat_struct *a = flint_malloc(keep.count * sizeof(fmpz_mat_struct));
    fmpz_mat_struct *b = flint_malloc(keep.count * sizeof(fmpz_mat_struct));
    fmpz_mat_struct *c = flint_malloc(keep.count * sizeof(fmpz_mat_struct));
    fmpz **dr = flint_malloc(keep.count * sizeof(fmpz *));
    fmpz **dc = flint_malloc(keep.count * sizeof(fmpz *));
    fmpz_t num, den, g;
    fmpz_init(num);
    fmpz_init(den);
    fmpz_init(g);
    for (slong k = 0; k < keep.count; k++) {
        const fmpq_mat_struct *left = keep.left + k, *right = keep.right + k;
        slong rows = fmpq_mat_nrows(left), inner = fmpq_mat_ncols(left);
        slong cols = fmpq_mat_ncols(right);
        fmpz *den_rows = _fmpz_vec_init(rows), *den_cols = _fmpz_vec_init(cols);
        fmpz_mat_init(a + k, rows, inner);
        fmpz_mat_init(b + k, inner, cols);
        fmpz_mat_init(c + k, rows, cols);
        fmpq_mat_get_fmpz_mat_rowwise(a + k, den_rows, left);
        fmpq_mat_get_fmpz_mat_colwise(b + k, den_cols, right);
        dr[k] = den_rows;
        dc[k] = den_cols;
        fmpq_mat_clear(keep.left + k);
        fmpq_mat_clear(keep.right + k);
    }
    flint_free(keep.left);
    flint_free(keep.right);

    /* The forward products alone (the first depth of them), best of their own repeats:
       printed before the header's other keys, for bench/backward_floor.py. */
    repeat_t forward;
    repeat_init(&forward, max_reps, budget);
    while (repeat_more(&forward)) {
        double start = now_seconds();
        for (slong k = 0; k < inst->depth && k < keep.count; k++)
            fmpz_mat_mul(c + k, a + k, b + k);
        repeat_record(&forward, now_seconds() - start);
    }
    printf("forward_time %.9f\n", forward.best);

    repeat_t rep;
    repeat_init(&rep, max_reps, budget);
    while (repeat_more(&rep)) {
        double start = now_seconds();
        for (slong k = 0; k < keep.count; k++) {
            fmpz_mat_mul(c + k, a + k, b + k);
            /* the weight gradients: product depth, then every other one (forward_backward) */
            if (sound && k >= inst->depth && (k - inst->depth) % 2 == 0)
                canonical_entries(c + k, dr[k], dc[k], num, den, g);
        }
        repeat_record(&rep, now_seconds() - start);
    }
    result_print(NULL, inst, rep.best, rep.reps);
    for (slong k = 0; k < keep.count; k++) {
        _fmpz_vec_clear(dr[k], fmpz_mat_nrows(c + k));
        _fmpz_vec_clear(dc[k], fmpz_mat_ncols(c + k));
        fmpz_mat_clear(a + k);
        fmpz_mat_clear(b + k);
        fmpz_mat_clear(c + k);
    }
    flint_free(dr);
    flint_free(dc);
    fmpz_clear(num);
    fmpz_clear(den);
    fmpz_clear(g);
    flint_free(a);
    flint_free(b);
    flint_free(c);
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "mat") != 0 && strcmp(argv[1], "floor") != 0
                      && strcmp(argv[1], "sound") != 0)) {
        fprintf(stderr, "usage: %s mat|floor|sound INSTANCE_FILE MAX_REPS BUDGET_SECONDS\n",
                argv[0]);
        return 2;
    }
    instance_t inst;
    instance_read(&inst, argv[2]);
    if (strcmp(argv[1], "mat") == 0)
        run_mat(&inst, atoi(argv[3]), atof(argv[4]));
    else
        run_floor(&inst, atoi(argv[3]), atof(argv[4]), strcmp(argv[1], "sound") == 0);
    instance_clear(&inst);
    flint_cleanup();
    return 0;
}
