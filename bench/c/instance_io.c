#define _GNU_SOURCE
#include "instance_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void die(const char *path, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", path, what);
    exit(2);
}

typedef struct {
    FILE *file;
    const char *path;
    char *line;
    size_t capacity;
} reader_t;

static char *next_line(reader_t *r)
{
    ssize_t n = getline(&r->line, &r->capacity, r->file);
    if (n < 0)
        die(r->path, "unexpected end of file");
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
        r->line[--n] = '\0';
    return r->line;
}

static slong next_slong(reader_t *r)
{
    char *end;
    long v = strtol(next_line(r), &end, 10);
    if (*end != '\0' || v < 0)
        die(r->path, "expected a non-negative integer");
    return v;
}

static void next_rational(reader_t *r, fmpq_t x)
{
    char *text = next_line(r);
    char *slash = strchr(text, '/');
    if (slash == NULL)
        die(r->path, "expected a hexadecimal p/q");
    *slash = '\0';
    fmpz_t p, q;
    fmpz_init(p);
    fmpz_init(q);
    if (fmpz_set_str(p, text, 16) != 0 || fmpz_set_str(q, slash + 1, 16) != 0 || fmpz_sgn(q) <= 0)
        die(r->path, "bad hexadecimal p/q");
    fmpq_set_fmpz_frac(x, p, q);
    fmpz_clear(p);
    fmpz_clear(q);
}

static void read_vector(reader_t *r, fmpq *v, slong len)
{
    for (slong i = 0; i < len; i++)
        next_rational(r, v + i);
}

void instance_read(instance_t *inst, const char *path)
{
    reader_t r = {fopen(path, "r"), path, NULL, 0};
    if (r.file == NULL)
        die(path, "cannot open");
    if (strcmp(next_line(&r), "bitprop-bench-instance/1") != 0)
        die(path, "not a bitprop-bench-instance/1 file");
    const char *activation = next_line(&r);
    if (strcmp(activation, "relu") == 0)
        inst->activation = ACT_RELU;
    else if (strcmp(activation, "square") == 0)
        inst->activation = ACT_SQUARE;
    else
        die(path, "activation must be relu or square");
    inst->depth = next_slong(&r);
    if (inst->depth < 1)
        die(path, "depth must be at least 1");
    inst->widths = flint_malloc((inst->depth + 1) * sizeof(slong));
    char *cursor = next_line(&r);
    for (slong l = 0; l <= inst->depth; l++) {
        char *end;
        inst->widths[l] = strtol(cursor, &end, 10);
        if (end == cursor || inst->widths[l] < 1)
            die(path, "bad widths line");
        cursor = end;
    }
    inst->batch = next_slong(&r);
    inst->weights = flint_malloc(inst->depth * sizeof(fmpq *));
    inst->biases = flint_malloc(inst->depth * sizeof(fmpq *));
    for (slong l = 0; l < inst->depth; l++) {
        slong rows = inst->widths[l + 1], cols = inst->widths[l];
        inst->weights[l] = _fmpq_vec_init(rows * cols);
        inst->biases[l] = _fmpq_vec_init(rows);
        read_vector(&r, inst->weights[l], rows * cols);
        read_vector(&r, inst->biases[l], rows);
    }
    inst->inputs = _fmpq_vec_init(inst->batch * inst->widths[0]);
    inst->labels = _fmpq_vec_init(inst->batch * inst->widths[inst->depth]);
    read_vector(&r, inst->inputs, inst->batch * inst->widths[0]);
    read_vector(&r, inst->labels, inst->batch * inst->widths[inst->depth]);
    free(r.line);
    fclose(r.file);
}

void instance_clear(instance_t *inst)
{
    for (slong l = 0; l < inst->depth; l++) {
        _fmpq_vec_clear(inst->weights[l], inst->widths[l + 1] * inst->widths[l]);
        _fmpq_vec_clear(inst->biases[l], inst->widths[l + 1]);
    }
    _fmpq_vec_clear(inst->inputs, inst->batch * inst->widths[0]);
    _fmpq_vec_clear(inst->labels, inst->batch * inst->widths[inst->depth]);
    flint_free(inst->weights);
    flint_free(inst->biases);
    flint_free(inst->widths);
}

void result_init(result_t *res, const instance_t *inst)
{
    fmpq_init(res->loss);
    res->grads_W = flint_malloc(inst->depth * sizeof(fmpq *));
    res->grads_b = flint_malloc(inst->depth * sizeof(fmpq *));
    for (slong l = 0; l < inst->depth; l++) {
        res->grads_W[l] = _fmpq_vec_init(inst->widths[l + 1] * inst->widths[l]);
        res->grads_b[l] = _fmpq_vec_init(inst->widths[l + 1]);
    }
}

void result_zero(result_t *res, const instance_t *inst)
{
    fmpq_zero(res->loss);
    for (slong l = 0; l < inst->depth; l++) {
        for (slong k = 0; k < inst->widths[l + 1] * inst->widths[l]; k++)
            fmpq_zero(res->grads_W[l] + k);
        for (slong k = 0; k < inst->widths[l + 1]; k++)
            fmpq_zero(res->grads_b[l] + k);
    }
}

void result_clear(result_t *res, const instance_t *inst)
{
    fmpq_clear(res->loss);
    for (slong l = 0; l < inst->depth; l++) {
        _fmpq_vec_clear(res->grads_W[l], inst->widths[l + 1] * inst->widths[l]);
        _fmpq_vec_clear(res->grads_b[l], inst->widths[l + 1]);
    }
    flint_free(res->grads_W);
    flint_free(res->grads_b);
}

static slong bit_length(const fmpq_t x)
{
    return fmpz_bits(fmpq_numref(x)) + fmpz_bits(fmpq_denref(x));
}

static void print_rational(const fmpq_t x)
{
    fmpz_fprint(stdout, fmpq_numref(x));
    if (!fmpz_is_one(fmpq_denref(x))) {
        fputc('/', stdout);
        fmpz_fprint(stdout, fmpq_denref(x));
    }
    fputc('\n', stdout);
}

/* Peak RSS of this program in kB: VmHWM belongs to the address space made by exec, whereas
 * ru_maxrss also counts the parent's pages at the fork. */
static long peak_rss_kb(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (status != NULL && fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (status != NULL)
        fclose(status);
    if (kb < 0) {
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        kb = usage.ru_maxrss;
    }
    return kb;
}

void result_print(const result_t *res, const instance_t *inst, double seconds, int reps)
{
    printf("time %.9f\nreps %d\nmaxrss_kb %ld\n", seconds, reps, peak_rss_kb());
    if (res == NULL) {
        printf("values 0\n");
        return;
    }
    slong count = 1, max_bits = bit_length(res->loss);
    for (slong l = 0; l < inst->depth; l++) {
        slong size = inst->widths[l + 1] * inst->widths[l];
        for (slong k = 0; k < size; k++)
            max_bits = FLINT_MAX(max_bits, bit_length(res->grads_W[l] + k));
        for (slong k = 0; k < inst->widths[l + 1]; k++)
            max_bits = FLINT_MAX(max_bits, bit_length(res->grads_b[l] + k));
        count += size + inst->widths[l + 1];
    }
    printf("max_bits %ld\nvalues %ld\n", max_bits, count);
    print_rational(res->loss);
    for (slong l = 0; l < inst->depth; l++)
        for (slong k = 0; k < inst->widths[l + 1] * inst->widths[l]; k++)
            print_rational(res->grads_W[l] + k);
    for (slong l = 0; l < inst->depth; l++)
        for (slong k = 0; k < inst->widths[l + 1]; k++)
            print_rational(res->grads_b[l] + k);
}

double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

void repeat_init(repeat_t *r, int max_reps, double budget)
{
    r->max_reps = max_reps < 1 ? 1 : max_reps;
    r->budget = budget;
    r->reps = 0;
    r->total = 0.0;
    r->best = 0.0;
}

int repeat_more(const repeat_t *r)
{
    return r->reps == 0 || (r->reps < r->max_reps && r->total < r->budget);
}

void repeat_record(repeat_t *r, double seconds)
{
    r->best = (r->reps == 0 || seconds < r->best) ? seconds : r->best;
    r->reps++;
    r->total += seconds;
}
