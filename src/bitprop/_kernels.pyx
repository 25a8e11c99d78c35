# cython: language_level=3, cdivision=True
"""Exact forward and reverse-mode passes over a Plan, on FLINT rationals, GIL released.

A ``Pass`` owns every array of one evaluation: inputs X, labels Y, per-sample loss scales,
pre-activations Z and values F (vertex-major: entry ``p * S + s``), adjoints GF = dL/df, and
per-thread gradient accumulators and bit statistics. Samples are split into contiguous
slices, one worker thread each; exact sums do not depend on the split, so every thread count
gives the same bits.

Interrupts: workers never longjmp out of FLINT. They poll ``stop`` between operations; the
Python driver sets it on Ctrl-C or when a time budget runs out, so every object stays valid.
Forward records what backward needs (Z and F); backward walks the same order in reverse and
releases each vertex's values as soon as no later step reads them.
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._plan cimport *
from bitprop._kernels cimport *
from bitprop._convert cimport (RationalVector, fmpq_set_fraction, fmpq_get_fraction,
                               fmpq_bit_length, vector_adopt, vector_take, vector_indexed)

WHAT_NAMES = ("pre-activation z", "value f", "adjoint dL/dz")
#: The status of a worker that ended before finishing its sweep.
STATUS_STOPPED = STOPPED

# Loss codes (losses.CODES).
cdef enum:
    LOSS_SQUARE = 0
    LOSS_HINGE = 1
    LOSS_ZERO_ONE = 2
    LOSS_BIT = 3


# --- activations: value and backprop rule ------------------------------------------------

cdef void _round_to_bits(fmpq *x, slong k, bint nearest, fmpz *q, fmpz *r) noexcept nogil:
    """x := x rounded to a multiple of 2^-k (floor, or nearest with ties to even)."""
    cdef fmpz *den = fmpq_denref(x)
    cdef slong twos = fmpz_val2(den)
    if <slong>fmpz_bits(den) - 1 == twos and twos <= k:   # already a multiple of 2^-k
        return
    fmpz_mul_2exp(q, fmpq_numref(x), k)
    fmpz_fdiv_qr(q, r, q, den)
    if nearest:
        fmpz_mul_2exp(r, r, 1)
        twos = fmpz_cmp(r, den)
        if twos > 0 or (twos == 0 and not fmpz_is_even(q)):
            fmpz_add_ui(q, q, 1)
    fmpz_set(fmpq_numref(x), q)
    fmpz_one(fmpq_denref(x))
    fmpq_div_2exp(x, x, k)


cdef void _activate(const PlanData *plan, int a, fmpq *out, const fmpq *z, fmpz *q, fmpz *r) noexcept nogil:
    """out := sigma_a(z)  (out and z never alias)."""
    cdef slong off = plan.act_off[a], length = plan.act_len[a], i
    cdef int code = plan.act_code[a]
    cdef fmpq *c = plan.pool + off
    if code == ACT_IDENTITY:
        fmpq_set(out, z)
    elif code == ACT_RELU:
        if fmpq_sgn(z) > 0:
            fmpq_set(out, z)
        else:
            fmpq_zero(out)
    elif code == ACT_LEAKY:
        if fmpq_sgn(z) > 0:
            fmpq_set(out, z)
        else:
            fmpq_mul(out, c, z)
    elif code == ACT_MONO:     # c z^d: numerator and denominator powered, still coprime
        fmpz_pow_ui(fmpq_numref(out), fmpq_numref(z), plan.act_bits[a])
        fmpz_pow_ui(fmpq_denref(out), fmpq_denref(z), plan.act_bits[a])
        if not fmpq_is_one(c):
            fmpq_mul(out, out, c)
    elif code == ACT_POLY:     # Horner
        fmpq_set(out, c + length - 1)
        for i in range(length - 2, -1, -1):
            fmpq_mul(out, out, z)
            fmpq_add(out, out, c + i)
    elif code == ACT_PWL:
        i = _piece(c, length, z)
        fmpq_mul(out, c + length + i, z)
        fmpq_add(out, out, c + 2 * length + 1 + i)
    else:                      # ACT_ROUNDED
        _activate(plan, plan.act_inner[a], out, z, q, r)
        _round_to_bits(out, plan.act_bits[a], plan.act_flags[a] & ROUND_NEAREST, q, r)
        if plan.act_flags[a] & ROUND_CLIP:
            if fmpq_cmp(out, c) < 0:
                fmpq_set(out, c)
            elif fmpq_cmp(out, c + 1) > 0:
                fmpq_set(out, c + 1)


cdef inline slong _piece(const fmpq *breakpoints, slong m, const fmpq *z) noexcept nogil:
    """Index i of the piece b_i < z <= b_(i+1) (binary search over m breakpoints)."""
    cdef slong lo = 0, hi = m, mid
    while lo < hi:                 # first breakpoint >= z
        mid = (lo + hi) // 2
        if fmpq_cmp(breakpoints + mid, z) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void _derivative(const PlanData *plan, int a, fmpq *out, const fmpq *z, fmpz *q, fmpz *r) noexcept nogil:
    """out := the backprop rule sigma_a'(z) of docs/formats.md ("Activations")."""
    cdef slong off = plan.act_off[a], length = plan.act_len[a], i
    cdef int code = plan.act_code[a]
    cdef fmpq *c = plan.pool + off
    if code == ACT_IDENTITY:
        fmpq_one(out)
    elif code == ACT_RELU:
        if fmpq_sgn(z) > 0:
            fmpq_one(out)
        else:
            fmpq_zero(out)
    elif code == ACT_LEAKY:
        if fmpq_sgn(z) > 0:
            fmpq_one(out)
        else:
            fmpq_set(out, c)
    elif code == ACT_MONO:     # d c z^(d-1)
        fmpz_pow_ui(fmpq_numref(out), fmpq_numref(z), plan.act_bits[a] - 1)
        fmpz_pow_ui(fmpq_denref(out), fmpq_denref(z), plan.act_bits[a] - 1)
        fmpq_mul(out, out, c + 1)
    elif code == ACT_POLY:     # Horner over the stored i c_i
        if length == 1:
            fmpq_zero(out)
            return
        fmpq_set(out, c + 2 * length - 2)
        for i in range(2 * length - 3, length - 1, -1):
            fmpq_mul(out, out, z)
            fmpq_add(out, out, c + i)
    elif code == ACT_PWL:
        fmpq_set(out, c + length + _piece(c, length, z))
    elif plan.act_flags[a] & ROUND_BACKWARD_ZERO:
        fmpq_zero(out)
    else:                      # straight-through: inner'(z) rounded to k bits
        _derivative(plan, plan.act_inner[a], out, z, q, r)
        _round_to_bits(out, plan.act_bits[a], plan.act_flags[a] & ROUND_NEAREST, q, r)


# --- one evaluation ----------------------------------------------------------------------

cdef class Pass:
    """All memory of one evaluation of a Plan on S samples, split over ``threads`` workers.
    ``inputs`` and ``labels`` are a Dataset's rows (RationalVectors)."""

    def __cinit__(self, Plan plan, inputs, labels=None, scales=None, loss=None, *,
                  int threads=1, bint backward=False, bint keep_all=False, max_bits=None,
                  bint scalar_values=True, **subclass_options):
        cdef slong S = len(inputs), n = plan.d.n
        self.plan = plan
        self.S = S
        self.threads = max(1, min(threads, S)) if S else 1
        self.backward = backward
        self.keep_all = keep_all
        self.has_labels = labels is not None
        self.max_bits = max_bits or 0
        self.step_scale = 1
        if loss is not None:
            self.loss_code, self.loss_index, self.loss_shift = loss.code, loss.index, loss.shift
        self.X = _fmpq_vec_init(S * plan.d.n_inputs + 1)
        self.Y = _fmpq_vec_init(S * plan.d.n_outputs + 1)
        self.scale = _fmpq_vec_init(S + 1)
        self.n_values = n * S if scalar_values else 0
        # Without scalar values (a dense stack) every gradient entry is set once, in region 0.
        self.regions = self.threads if scalar_values else 1
        self.Z = _fmpq_vec_init(self.n_values + 1)
        self.F = _fmpq_vec_init(self.n_values + 1)
        self.GF = _fmpq_vec_init((self.n_values if backward else 0) + 1)
        self.outputs = _fmpq_vec_init(S * plan.d.n_outputs + 1)
        self.grad_w = _fmpq_vec_init(self.regions * plan.d.n_edges + 1)
        self.grad_z = _fmpq_vec_init(self.regions * n + 1)
        self.loss = _fmpq_vec_init(self.threads + 1)
        self.bits_z = <long *>calloc(self.threads * n + 1, sizeof(long))
        self.bits_f = <long *>calloc(self.threads * n + 1, sizeof(long))
        self.bits_adj = <long *>calloc(self.threads * n + 1, sizeof(long))
        self.done = <slong *>calloc(self.threads + 1, sizeof(slong))
        self.status = <int *>calloc(self.threads + 1, sizeof(int))
        self.fault_pos = <slong *>calloc(self.threads + 1, sizeof(slong))
        self.fault_what = <int *>calloc(self.threads + 1, sizeof(int))
        self.fault_bits = <long *>calloc(self.threads + 1, sizeof(long))
        self.fault_step = <slong *>calloc(self.threads + 1, sizeof(slong))
        self.fault_sample = <slong *>calloc(self.threads + 1, sizeof(slong))
        self.t_start = <double *>calloc(self.threads + 1, sizeof(double))
        self.t_forward = <double *>calloc(self.threads + 1, sizeof(double))
        self.t_end = <double *>calloc(self.threads + 1, sizeof(double))
        if (self.bits_z == NULL or self.bits_f == NULL or self.bits_adj == NULL or
                self.done == NULL or self.status == NULL or self.fault_pos == NULL or
                self.fault_what == NULL or self.fault_bits == NULL or self.fault_step == NULL or
                self.fault_sample == NULL or self.t_start == NULL or
                self.t_forward == NULL or self.t_end == NULL):
            raise MemoryError()

    def __init__(self, Plan plan, inputs, labels=None, scales=None, loss=None, **options):
        cdef slong s
        for s, x in enumerate(inputs):
            _load_row(self.X + s * plan.d.n_inputs, x)
        if labels is not None:
            for s, y in enumerate(labels):
                _load_row(self.Y + s * plan.d.n_outputs, y)
        if scales is not None:
            for s, q in enumerate(scales):
                fmpq_set_fraction(&self.scale[s], q)

    def __dealloc__(self):
        cdef slong n = self.plan.d.n if self.plan is not None else 0
        cdef slong S = self.S
        if self.plan is None:
            return
        _clear(self.X, S * self.plan.d.n_inputs + 1)
        _clear(self.Y, S * self.plan.d.n_outputs + 1)
        _clear(self.scale, S + 1)
        _clear(self.Z, self.n_values + 1)
        _clear(self.F, self.n_values + 1)
        _clear(self.GF, (self.n_values if self.backward else 0) + 1)
        _clear(self.outputs, S * self.plan.d.n_outputs + 1)
        _clear(self.grad_w, self.regions * self.plan.d.n_edges + 1)
        _clear(self.grad_z, self.regions * n + 1)
        _clear(self.loss, self.threads + 1)
        free(self.bits_z); free(self.bits_f); free(self.bits_adj); free(self.done)
        free(self.status); free(self.fault_pos); free(self.fault_what); free(self.fault_bits)
        free(self.fault_step); free(self.fault_sample)
        free(self.t_start); free(self.t_forward); free(self.t_end)

    # --- the worker ----------------------------------------------------------------------
    def work(self, int t):
        """Run worker ``t`` on its slice of samples (called in its own thread; GIL released)."""
        with nogil:
            self.status[t] = self._work(t)
            flint_cleanup()     # the thread's mpz cache would otherwise outlive it

    cdef int _work(self, int t) noexcept nogil:
        cdef slong s0 = self.S * t // self.threads, s1 = self.S * (t + 1) // self.threads
        cdef fmpq_t tmp, acc
        cdef fmpz_t q, r
        cdef int result = DONE
        cdef slong p
        fmpq_init(tmp); fmpq_init(acc); fmpz_init(q); fmpz_init(r)
        self.t_start[t] = monotonic_now()
        for p in range(self.plan.d.n):
            result = self._forward_vertex(t, p, s0, s1, q, r)
            if result != DONE:
                break
            self.done[t] += 1
        self.t_forward[t] = monotonic_now()
        if result == DONE:
            self._keep_outputs(s0, s1)
        if result == DONE and self.has_labels:
            self._seed_loss(t, s0, s1, tmp, acc, q, r)
        if result == DONE and self.backward:
            for p in range(self.plan.d.n - 1, -1, -1):
                result = self._backward_vertex(t, p, s0, s1, tmp, acc, q, r)
                if result != DONE:
                    break
                self.done[t] += 1
        self.t_end[t] = monotonic_now()
        fmpq_clear(tmp); fmpq_clear(acc); fmpz_clear(q); fmpz_clear(r)
        return result

    cdef int _guard(self, int t, slong p, slong s, slong step, int what, const fmpq *value,
                    long *record) noexcept nogil:
        """Record the bit length of ``value``; BIT_LIMIT when it exceeds max_bits."""
        cdef long bits = fmpq_bit_length(value)
        if bits > record[0]:
            record[0] = bits
        if self.max_bits and bits > self.max_bits:
            return self._fault(t, p, s, step, what, bits)
        return DONE

    cdef int _fault(self, int t, slong p, slong s, slong step, int what, long bits) noexcept nogil:
        """Note worker t's first value over max_bits: vertex p, sample s, at ``step`` of the
        sweep (the same step numbers for every worker); returns BIT_LIMIT."""
        self.fault_pos[t], self.fault_what[t], self.fault_bits[t] = p, what, bits
        self.fault_step[t], self.fault_sample[t] = step, s
        return BIT_LIMIT

    cdef int _forward_vertex(self, int t, slong p, slong s0, slong s1, fmpz *q,
                             fmpz *r) noexcept nogil:
        cdef PlanData *plan = &self.plan.d
        cdef slong S = self.S, s, k, e
        cdef slong slot = plan.input_slot[p]
        cdef int a = plan.vertex_act[p]
        cdef fmpq *z
        cdef fmpq *f
        cdef fmpq *fu
        for s in range(s0, s1):
            if self.stop:
                return STOPPED
            z = self.Z + p * S + s
            f = self.F + p * S + s
            if a < 0:           # a source: f = x
                fmpq_set(f, self.X + s * plan.n_inputs + slot)
            else:               # z = sum (w f_u + b) [+ x]; f = sigma(z)
                fmpq_set(z, plan.bias_sum + p)
                if slot >= 0:
                    fmpq_add(z, z, self.X + s * plan.n_inputs + slot)
                for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
                    e = plan.in_edge[k]
                    fu = self.F + plan.edge_src[e] * S + s
                    if not fmpq_is_zero(fu) and not fmpq_is_zero(plan.weight + e):
                        fmpq_addmul(z, plan.weight + e, fu)
                if self._guard(t, p, s, p * self.step_scale, WHAT_Z, z,
                               self.bits_z + t * plan.n + p):
                    return BIT_LIMIT
                _activate(plan, a, f, z, q, r)
            if self._guard(t, p, s, p * self.step_scale, WHAT_F, f,
                           self.bits_f + t * plan.n + p):
                return BIT_LIMIT
            if not self.keep_all and not self.backward:
                fmpq_zero(z)    # forward only: z is not needed again
                self._forget(p, s)
        return DONE

    cdef void _forget(self, slong p, slong s) noexcept nogil:
        """Forward only, once vertex p of sample s is done: free f_p if nothing reads it, and
        f_u for every u whose last reader is p."""
        cdef PlanData *plan = &self.plan.d
        cdef slong k, u
        if plan.last_use[p] < 0 and not plan.is_output[p]:
            fmpq_zero(self.F + p * self.S + s)
        for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
            u = plan.edge_src[plan.in_edge[k]]
            if plan.last_use[u] == p and not plan.is_output[u]:
                fmpq_zero(self.F + u * self.S + s)

    cdef void _keep_outputs(self, slong s0, slong s1) noexcept nogil:
        cdef slong s, o
        for s in range(s0, s1):
            for o in range(self.plan.d.n_outputs):
                fmpq_set(self.outputs + s * self.plan.d.n_outputs + o,
                         self.F + self.plan.d.output_pos[o] * self.S + s)

    cdef void _seed_loss(self, int t, slong s0, slong s1, fmpq *tmp, fmpq *acc,
                         fmpz *q, fmpz *r) noexcept nogil:
        """Add the loss of each sample and seed dL/df at the outputs."""
        cdef PlanData *plan = &self.plan.d
        cdef slong s, o, p
        for s in range(s0, s1):
            fmpq_zero(acc)
            for o in range(plan.n_outputs):
                p = plan.output_pos[o]
                self._loss_entry(t, s, self.F + p * self.S + s, self.Y + s * plan.n_outputs + o,
                                 acc, self.GF + p * self.S + s if self.backward else NULL,
                                 tmp, q, r)
            fmpq_addmul(self.loss + t, self.scale + s, acc)

    cdef void _loss_entry(self, int t, slong s, const fmpq *f, const fmpq *y, fmpq *acc,
                          fmpq *gf, fmpq *tmp, fmpz *q, fmpz *r) noexcept nogil:
        """acc += l(f, y); gf += scale_s * dl/df (when gf is not NULL)."""
        if self.loss_code == LOSS_SQUARE:      # (f - y)^2, seed 2 (f - y)
            fmpq_sub(tmp, f, y)
            fmpq_addmul(acc, tmp, tmp)
            if gf != NULL:
                fmpq_mul_2exp(tmp, tmp, 1)
                fmpq_addmul(gf, self.scale + s, tmp)
        elif self.loss_code == LOSS_HINGE:     # max(0, 1 - y f), seed -y on the slope
            fmpq_mul(tmp, y, f)
            fmpq_neg(tmp, tmp)
            fmpz_add(fmpq_numref(tmp), fmpq_numref(tmp), fmpq_denref(tmp))
            if fmpq_sgn(tmp) > 0:
                fmpq_add(acc, acc, tmp)
                if gf != NULL:
                    fmpq_submul(gf, self.scale + s, y)
        elif self.loss_code == LOSS_ZERO_ONE:
            if not fmpq_equal(f, y):
                fmpz_add(fmpq_numref(acc), fmpq_numref(acc), fmpq_denref(acc))
        else:                                   # bit k of floor(|f| 2^shift) != y
            if _bit_of(f, self.loss_index, self.loss_shift, q, r) != fmpq_is_one(y):
                fmpz_add(fmpq_numref(acc), fmpq_numref(acc), fmpq_denref(acc))

    cdef int _backward_vertex(self, int t, slong p, slong s0, slong s1, fmpq *gz, fmpq *d,
                              fmpz *q, fmpz *r) noexcept nogil:
        cdef PlanData *plan = &self.plan.d
        cdef slong S = self.S, s, k, e, u
        cdef int a = plan.vertex_act[p]
        cdef fmpq *g
        cdef fmpq *fu
        for s in range(s0, s1):
            if self.stop:
                return STOPPED
            g = self.GF + p * S + s
            if a >= 0 and fmpq_is_zero(g) and self.bits_adj[t * plan.n + p] < 1:
                self.bits_adj[t * plan.n + p] = 1       # dL/dz_p = 0 has 1 bit
            if a >= 0 and not fmpq_is_zero(g):
                _derivative(plan, a, d, self.Z + p * S + s, q, r)
                fmpq_mul(gz, g, d)                       # dL/dz_p
                if self._guard(t, p, s, (2 * plan.n - 1 - p) * self.step_scale, WHAT_ADJOINT,
                               gz, self.bits_adj + t * plan.n + p):
                    return BIT_LIMIT
                if not fmpq_is_zero(gz):
                    fmpq_add(self.grad_z + t * plan.n + p, self.grad_z + t * plan.n + p, gz)
                    for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
                        e = plan.in_edge[k]
                        u = plan.edge_src[e]
                        fu = self.F + u * S + s
                        if not fmpq_is_zero(fu):
                            fmpq_addmul(self.grad_w + t * plan.n_edges + e, gz, fu)
                        if not fmpq_is_zero(plan.weight + e):
                            fmpq_addmul(self.GF + u * S + s, plan.weight + e, gz)
            if not self.keep_all:   # every reader of z_p, f_p and dL/df_p is done
                fmpq_zero(self.Z + p * S + s)
                fmpq_zero(self.F + p * S + s)
                fmpq_zero(g)
        return DONE

    # --- results (called by the driver after the workers have finished) -------------------
    def progress(self):
        """Vertex steps finished so far, summed over workers, and the total to do."""
        total = self.plan.d.n * (2 if self.backward else 1)
        return sum(self.done[t] for t in range(self.threads)) / self.threads, total

    def statuses(self):
        return [self.status[t] for t in range(self.threads)]

    def fault(self):
        """(position, what, bits) of the value over max_bits that a one-thread sweep meets
        first (the earliest of the workers' first faults), or None."""
        faults = [(self.fault_step[t], self.fault_sample[t], self.fault_what[t],
                   self.fault_pos[t], t) for t in range(self.threads)
                  if self.status[t] == BIT_LIMIT]
        if not faults:
            return None
        t = min(faults)[-1]
        return self.fault_pos[t], WHAT_NAMES[self.fault_what[t]], self.fault_bits[t]

    def timings(self):
        """(forward, backward) seconds: the slowest worker's. A forward pass alone ends once
        its outputs (and loss) are in canonical form; with backward, that is backward's."""
        if not self.backward:
            return max(self.t_end[t] - self.t_start[t] for t in range(self.threads)), 0.0
        forward = max(self.t_forward[t] - self.t_start[t] for t in range(self.threads))
        backward = max(self.t_end[t] - self.t_forward[t] for t in range(self.threads))
        return forward, backward

    def take_outputs(self):
        """The S samples' output vectors, as RationalVectors (read as Fractions), moved out
        of the pass, not copied: the pass holds zeros in their place afterwards."""
        cdef slong s, m = self.plan.d.n_outputs
        return [vector_take(self.outputs + s * m, m) for s in range(self.S)]

    def vertex_values(self, slong s):
        """(z, f) of sample s by position (z is None for sources); needs keep_all."""
        cdef slong p
        z = [None if self.plan.d.vertex_act[p] < 0 else fmpq_get_fraction(self.Z + p * self.S + s)
             for p in range(self.plan.d.n)]
        f = [fmpq_get_fraction(self.F + p * self.S + s) for p in range(self.plan.d.n)]
        return z, f

    def total_loss(self):
        cdef fmpq_t total
        cdef int t
        fmpq_init(total)
        try:
            for t in range(self.threads):
                fmpq_add(total, total, self.loss + t)
            return fmpq_get_fraction(total)
        finally:
            fmpq_clear(total)

    def reduce_gradients(self):
        """Sum the workers' accumulators into thread 0's: exact, so the split never shows."""
        self._reduce(NULL, NULL)

    cdef void _reduce(self, const char *skip_edge, const char *skip_vertex) noexcept:
        """reduce_gradients, but for the edges and vertices marked in skip_edge, skip_vertex
        (either may be NULL), whose gradients thread 0 already holds in full."""
        cdef int t
        cdef slong e, p
        cdef PlanData *plan = &self.plan.d
        with nogil:
            for t in range(1, self.threads):
                for e in range(plan.n_edges):
                    if skip_edge == NULL or not skip_edge[e]:
                        fmpq_add(self.grad_w + e, self.grad_w + e,
                                 self.grad_w + t * plan.n_edges + e)
                for p in range(plan.n):
                    if skip_vertex == NULL or not skip_vertex[p]:
                        fmpq_add(self.grad_z + p, self.grad_z + p, self.grad_z + t * plan.n + p)

    def gradients(self):
        """(dL/dw, dL/db) per edge in edge order as RationalVectors (after reduce_gradients);
        every per-edge bias gradient is dL/dz of the edge's head, stored once per vertex.
        dL/dw is moved out of the pass, not copied: call this last, and once."""
        cdef fmpq *weights = self.grad_w
        bias = vector_indexed(self.grad_z, self.plan.d.n, self.plan.d.edge_dst,
                              self.plan.d.n_edges)
        if self.regions > 1:
            return vector_take(weights, self.plan.d.n_edges), bias
        self.grad_w = NULL          # the one region's array becomes the vector's
        return vector_adopt(weights, self.plan.d.n_edges), bias

    def gradient_bits(self):
        """(max bits of dL/dw, max bits of dL/db) over all edges (after reduce_gradients)."""
        cdef slong e, p
        cdef long bw = 0, bb = 0
        for e in range(self.plan.d.n_edges):
            bw = max(bw, fmpq_bit_length(self.grad_w + e))
        for p in range(self.plan.d.n):
            if self.plan.d.in_ptr[p + 1] > self.plan.d.in_ptr[p]:
                bb = max(bb, fmpq_bit_length(self.grad_z + p))
        return bw, bb

    def bit_statistics(self, list names, list depths):
        """(per_vertex, per_depth, max_value, max_adjoint): the max over all workers and
        samples of the bits of z, f and dL/dz, by vertex name and by depth."""
        cdef slong p, n = self.plan.d.n, d, levels = (max(depths) + 1) if n else 0
        cdef int t
        cdef long bz, bf, ba, max_value = 0, max_adjoint = 0
        cdef long *level = <long *>calloc(3 * levels + 3, sizeof(long))
        if level == NULL:
            raise MemoryError()
        per_vertex = {}
        try:
            for p in range(n):
                bz, bf, ba = self.bits_z[p], self.bits_f[p], self.bits_adj[p]
                for t in range(1, self.threads):
                    bz = max(bz, self.bits_z[t * n + p])
                    bf = max(bf, self.bits_f[t * n + p])
                    ba = max(ba, self.bits_adj[t * n + p])
                per_vertex[names[p]] = {"z": bz, "f": bf, "adjoint": ba}
                d = depths[p]
                level[3 * d] = max(level[3 * d], bz)
                level[3 * d + 1] = max(level[3 * d + 1], bf)
                level[3 * d + 2] = max(level[3 * d + 2], ba)
                max_value = max(max_value, bz, bf)
                max_adjoint = max(max_adjoint, ba)
            # every depth from 0 to the largest has a vertex (a longest path passes them all)
            per_depth = [{"depth": d, "z": level[3 * d], "f": level[3 * d + 1],
                          "adjoint": level[3 * d + 2]} for d in range(levels)]
        finally:
            free(level)
        return per_vertex, per_depth, max_value, max_adjoint

    def apply_step(self, lr, trainable):
        """theta := theta - lr * dL/dtheta on the plan's trainable parameters (exact), on the
        pass's threads (see _Step)."""
        from .workers import run_workers
        cdef _Step step = _Step(self, lr, trainable)
        cdef int parts = self.threads if self.plan.d.n_edges >= STEP_EDGES_PER_THREAD else 1
        if parts == 1:
            step.work(0, 1)
        else:
            run_workers([lambda t=t: step.work(t, parts) for t in range(parts)], step.halt)


#: A step on fewer edges than this runs in the calling thread: starting threads costs more.
STEP_EDGES_PER_THREAD = 4096


cdef class _Step:
    """One gradient-descent step over a pass's gradients. Worker t takes a run of positions
    holding about 1/parts of the in-edges; for each position p it computes lr * dL/dz_p
    once (every in-edge of p moves its bias by it), moves the weights and biases of p's
    trainable in-edges, and sums their biases into p's bias sum: no value is written by two
    workers, and every one is the same for any number of them."""

    cdef Pass run
    cdef fmpq_t rate
    cdef char *trainable
    cdef public int stop

    def __cinit__(self, Pass run, lr, trainable):
        cdef slong e, n_edges = run.plan.d.n_edges
        fmpq_init(self.rate)
        self.run = run
        self.trainable = <char *>calloc(n_edges + 1, 1)
        if self.trainable == NULL:
            raise MemoryError()
        fmpq_set_fraction(self.rate, lr)
        for e in range(n_edges):
            self.trainable[e] = 1 if trainable[e] else 0

    def __dealloc__(self):
        fmpq_clear(self.rate)
        free(self.trainable)

    def halt(self):
        self.stop = 1

    def work(self, int t, int parts):
        with nogil:
            self._move(t, parts)
            flint_cleanup()

    cdef void _move(self, int t, int parts) noexcept nogil:
        cdef PlanData *d = &self.run.plan.d
        cdef slong p, k, e
        cdef slong first = _first_position(d, d.n_edges * t // parts)
        cdef slong last = d.n if t == parts - 1 else _first_position(d, d.n_edges * (t + 1)
                                                                      // parts)
        cdef fmpq_t bias_step
        fmpq_init(bias_step)
        for p in range(first, last):
            if self.stop:
                break
            fmpq_mul(bias_step, self.rate, self.run.grad_z + p)
            fmpq_zero(d.bias_sum + p)
            for k in range(d.in_ptr[p], d.in_ptr[p + 1]):
                e = d.in_edge[k]
                if self.trainable[e]:
                    fmpq_submul(d.weight + e, self.rate, self.run.grad_w + e)
                    fmpq_sub(d.bias + e, d.bias + e, bias_step)
                fmpq_add(d.bias_sum + p, d.bias_sum + p, d.bias + e)
        fmpq_clear(bias_step)


cdef slong _first_position(const PlanData *d, slong edges) noexcept nogil:
    """The first position whose in-edges start at or after edge ``edges`` of the CSR order
    (d.n when none does): where a run of about ``edges`` in-edges ends."""
    cdef slong low = 0, high = d.n, middle
    while low < high:
        middle = (low + high) // 2
        if d.in_ptr[middle] >= edges:
            high = middle
        else:
            low = middle + 1
    return low


cdef int _load_row(fmpq *out, RationalVector row) except -1:
    """out[i] = row[i] for a row of a Dataset (a RationalVector: copied in FLINT)."""
    cdef Py_ssize_t i
    for i in range(row.n):
        fmpq_set(out + i, row._entry(i))
    return 0


cdef void _clear(fmpq *vec, slong n) noexcept:
    if vec != NULL:
        _fmpq_vec_clear(vec, n)


cdef int _bit_of(const fmpq *f, slong index, slong shift, fmpz *q, fmpz *r) noexcept nogil:
    """Bit ``index`` of floor(|f| * 2^shift)."""
    fmpz_abs(q, fmpq_numref(f))
    if shift >= 0:
        fmpz_mul_2exp(q, q, shift)
        fmpz_fdiv_q(q, q, fmpq_denref(f))
    else:
        fmpz_mul_2exp(r, fmpq_denref(f), -shift)
        fmpz_fdiv_q(q, q, r)
    return fmpz_tstbit(q, index)
