/* The benchmark instance file, the result printout and the timing loop shared by the C peers.
 *
 * Instance file (written by bench/peers/_c.py), one item a line:
 *   bitprop-bench-instance/1
 *   relu | square              hidden activation; the output layer is the identity
 *   L                          number of layers
 *   n_0 n_1 ... n_L            widths
 *   B                          batch
 *   then for l = 1..L: W_l row-major (n_l * n_(l-1) lines), b_l (n_l lines);
 *   then X (B * n_0 lines, sample by sample) and Y (B * n_L lines).
 * Every number is a reduced rational in hexadecimal: "[-]p/q".
 */
#ifndef BENCH_INSTANCE_IO_H
#define BENCH_INSTANCE_IO_H

#include <flint/flint.h>
#include <flint/fmpq.h>

enum { ACT_RELU = 0, ACT_SQUARE = 1 };

typedef struct {
    int activation;
    slong depth;     /* L */
    slong batch;     /* B */
    slong *widths;   /* n_0 .. n_L */
    fmpq **weights;  /* weights[l]: W_(l+1), n_(l+1) x n_l, row-major */
    fmpq **biases;   /* biases[l]: b_(l+1), n_(l+1) */
    fmpq *inputs;    /* B x n_0 */
    fmpq *labels;    /* B x n_L */
} instance_t;

/* Loss and gradients in the canonical layout: grads_W[l] row-major like weights[l]. */
typedef struct {
    fmpq_t loss;
    fmpq **grads_W;
    fmpq **grads_b;
} result_t;

void instance_read(instance_t *inst, const char *path);   /* exits with a message on error */
void instance_clear(instance_t *inst);

void result_init(result_t *res, const instance_t *inst);
void result_zero(result_t *res, const instance_t *inst);
void result_clear(result_t *res, const instance_t *inst);

/* Prints "time", "reps", "maxrss_kb", "max_bits" and "values N" header lines, then the N
 * canonical decimal values: loss, dW_1 .. dW_L (row-major), db_1 .. db_L. With res == NULL
 * (the floor) only the timing lines and "values 0". */
void result_print(const result_t *res, const instance_t *inst, double seconds, int reps);

double now_seconds(void);

/* The repeat policy shared with the Python peers: run at least once, then again while
 * fewer than max_reps runs were made and they took less than budget seconds in all. */
typedef struct {
    int max_reps;
    double budget;
    int reps;
    double total;
    double best;
} repeat_t;

void repeat_init(repeat_t *r, int max_reps, double budget);
int repeat_more(const repeat_t *r);
void repeat_record(repeat_t *r, double seconds);

#endif
