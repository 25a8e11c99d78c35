# cython: language_level=3, cdivision=True
"""The ball sweep: the exact sweep's forward and reverse mode (bitprop._sweep) over Arb
balls at a working precision, for values past exact reach (issue 20).

Every z, f, adjoint, loss and gradient is an ``arb_t`` that provably contains the value the
exact kernels compute. Where an activation or a loss has a kink, a breakpoint or a rounding
boundary inside a ball, the result covers every branch, so the exact kernels' convention there
is inside it too (ReLU' on a ball around 0 is [0, 1]). Exponents are unbounded: a value of
2^40 bits is a ball of a few words.

Values are vertex-major like the exact sweep (entry ``p * S + s``) and all kept: a ball's size
does not grow with its magnitude. G holds the outputs' seeds and, once the reverse sweep has
passed a vertex, its dL/dz, which the reverse sweep pulls from a vertex's successors (one
strided dot product when its edges form a run, as in a dense layer).

Same balls for every thread count: workers never accumulate gradients. Each worker runs its
samples forward and backward; then the reduction sums over samples in sample order (one dot
product per edge, over the S columns of dL/dz of its head and f of its tail), split over
workers by positions. No rounding depends on the split.
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._arb cimport *
from bitprop._plan cimport Plan, PlanData
from bitprop._codes cimport *
from bitprop._convert cimport (RationalVector, fmpz_set_pyint, fmpz_get_pyint,
                               fmpq_set_fraction)

# Worker status codes (as in bitprop._pass).
cdef enum:
    DONE = 0
    STOPPED = 1

#: The status of a worker that ended before finishing its sweep.
STATUS_STOPPED = STOPPED


cdef struct BallWorker:
    # One worker thread's samples s0 <= s < s1, its status and its scratch balls.
    slong s0, s1
    int status
    slong done                  # vertex steps finished (progress)
    arb_struct a, b, c, d
    arf_struct lo, hi
    fmpz m, e
    arb_ptr seed                # per output: scale_s * dl/df of the sample just seeded


cdef BallWorker *_workers_init(int threads, slong S, slong n_outputs) except NULL:
    cdef BallWorker *workers = <BallWorker *>calloc(threads, sizeof(BallWorker))
    cdef BallWorker *w
    cdef int t
    if workers == NULL:
        raise MemoryError()
    for t in range(threads):
        w = workers + t
        w.s0, w.s1 = S * t // threads, S * (t + 1) // threads
        arb_init(&w.a); arb_init(&w.b); arb_init(&w.c); arb_init(&w.d)
        arf_init(&w.lo); arf_init(&w.hi)
        fmpz_init(&w.m); fmpz_init(&w.e)
        w.seed = _arb_vec_init(n_outputs + 1)
    return workers


cdef void _workers_clear(BallWorker *workers, int threads, slong n_outputs) noexcept:
    cdef BallWorker *w
    cdef int t
    if workers == NULL:
        return
    for t in range(threads):
        w = workers + t
        arb_clear(&w.a); arb_clear(&w.b); arb_clear(&w.c); arb_clear(&w.d)
        arf_clear(&w.lo); arf_clear(&w.hi)
        fmpz_clear(&w.m); fmpz_clear(&w.e)
        if w.seed != NULL:
            _arb_vec_clear(w.seed, n_outputs + 1)
    free(workers)


# --- edge runs: a vertex's edges as one strided dot product ------------------------------

cdef struct Run:
    # Edges e0, e0 + de, ... whose other ends are positions v0, v0 + dv, ... (len of them):
    # their sum is one arb_dot over strided weights and values. de = 0: not such a run.
    slong e0, de, v0, dv, len


cdef void _find_run(Run *run, const slong *edges, slong count, const slong *ends) noexcept:
    """Whether edges[0:count] (with other ends ends[edge]) step by constant positive strides."""
    cdef slong k
    run.len = count
    run.de = 0
    if count < 2:
        return
    run.e0, run.v0 = edges[0], ends[edges[0]]
    cdef slong de = edges[1] - edges[0], dv = ends[edges[1]] - ends[edges[0]]
    if de <= 0 or dv <= 0:
        return
    for k in range(2, count):
        if edges[k] - edges[k - 1] != de or ends[edges[k]] - ends[edges[k - 1]] != dv:
            return
    run.de, run.dv = de, dv


# --- sound pieces: rounding, parity, indicators ------------------------------------------

cdef void _floor_ball(arb_ptr out, arb_srcptr x, BallWorker *w, slong prec) noexcept nogil:
    """out := [floor(lower end), floor(upper end)]: every point's floor (floor is monotone)."""
    arb_get_lbound_arf(&w.lo, x, prec)
    arb_get_ubound_arf(&w.hi, x, prec)
    arf_floor(&w.lo, &w.lo)
    arf_floor(&w.hi, &w.hi)
    arb_set_interval_arf(out, &w.lo, &w.hi, prec)


cdef void _ceil_ball(arb_ptr out, arb_srcptr x, BallWorker *w, slong prec) noexcept nogil:
    arb_get_lbound_arf(&w.lo, x, prec)
    arb_get_ubound_arf(&w.hi, x, prec)
    arf_ceil(&w.lo, &w.lo)
    arf_ceil(&w.hi, &w.hi)
    arb_set_interval_arf(out, &w.lo, &w.hi, prec)


cdef int _parity(arb_srcptr x, BallWorker *w) noexcept nogil:
    """0 or 1 for an exact integer ball, by its binary exponent (never building the
    integer, which may have 2^40 bits); -1 when x is not one exact integer."""
    if not arb_is_exact(x):
        return -1
    if arf_is_zero(arb_midref(x)):
        return 0
    arf_get_fmpz_2exp(&w.m, &w.e, arb_midref(x))   # m odd
    if fmpz_sgn(&w.e) < 0:
        return -1
    return 1 if fmpz_is_zero(&w.e) and fmpz_is_odd(&w.m) else 0


cdef void _round_ball(arb_ptr out, slong k, bint nearest, BallWorker *w,
                      slong prec) noexcept nogil:
    """out := out rounded to a multiple of 2^-k (floor, or nearest with ties to even), as a
    ball covering the rounding of every point. Nearest: t rounds to floor(t + 1/2) or to
    ceil(t - 1/2), which differ only when t is a tie; when they differ as exact integers
    every point is that tie, and the even one is the answer."""
    arb_mul_2exp_si(out, out, k)
    if nearest:
        arb_one(&w.c)
        arb_mul_2exp_si(&w.c, &w.c, -1)
        arb_add(&w.a, out, &w.c, prec)
        _floor_ball(&w.a, &w.a, w, prec)
        arb_sub(&w.b, out, &w.c, prec)
        _ceil_ball(&w.b, &w.b, w, prec)
        if arb_is_exact(&w.a) and arb_is_exact(&w.b) and not arb_equal(&w.a, &w.b):
            arb_set(out, &w.b if _parity(&w.b, w) == 0 else &w.a)
        else:
            arb_union(out, &w.a, &w.b, prec)
    else:
        _floor_ball(out, out, w, prec)
    arb_mul_2exp_si(out, out, -k)


cdef void _unit_interval(arb_ptr out, BallWorker *w, slong prec) noexcept nogil:
    """out := [0, 1] (an indicator or a ReLU slope that is not decided)."""
    arb_zero(out)
    arb_one(&w.d)
    arb_union(out, out, &w.d, prec)


cdef int _differs(arb_srcptr f, const fmpq *y) noexcept nogil:
    """[f != y]: 1 or 0 when the ball decides it, else -1."""
    if not arb_contains_fmpq(f, y):
        return 1
    return 0 if arb_is_exact(f) else -1


# --- one evaluation ----------------------------------------------------------------------

cdef class BallPass:
    """All memory of one ball evaluation of a Plan at ``prec`` bits on S samples (a Dataset's
    rows: RationalVectors), split over ``threads`` workers."""

    cdef readonly Plan plan
    cdef readonly slong prec, S
    cdef readonly int threads
    cdef readonly bint backward, has_labels
    cdef int loss_code
    cdef fmpz bit_shift             # the bit loss's shift - index: bit 0 of |f| 2^this
    cdef arb_ptr weight             # n_edges
    cdef arb_ptr bias_sum           # n
    cdef arb_ptr pool               # pool_len
    cdef arb_ptr X                  # S * n_inputs
    cdef arb_ptr Yb                 # S * n_outputs, the labels as balls
    cdef fmpq *Y                    # S * n_outputs, the labels exactly (0/1 losses)
    cdef arb_ptr scale              # S
    cdef arb_ptr Z, F, G            # n * S
    cdef arb_ptr loss               # S: scale_s * l(sample s)
    cdef arb_ptr grad_w             # n_edges
    cdef arb_ptr grad_z             # n
    cdef arb_ptr ones               # S
    cdef slong *out_ptr             # n + 1: out-edges of position p, by edge id, are
    cdef slong *out_edge            # out_edge[out_ptr[p]:out_ptr[p + 1]]
    cdef Run *in_runs               # per position: its in-edges as a run, if they are one
    cdef Run *out_runs              # per position: its out-edges as a run, if they are one
    cdef BallWorker *workers
    cdef public int stop

    def __cinit__(self, Plan plan, inputs, labels=None, scales=None, loss=None, *,
                  slong prec=64, int threads=1, bint backward=False):
        cdef slong S = len(inputs), n = plan.d.n
        self.plan = plan
        self.prec = prec
        self.S = S
        self.threads = max(1, min(threads, S)) if S else 1
        self.backward = backward
        self.has_labels = labels is not None
        if loss is not None:
            self.loss_code = loss.code
            fmpz_set_pyint(&self.bit_shift, loss.shift - loss.index)
        self.weight = _arb_vec_init(plan.d.n_edges + 1)
        self.bias_sum = _arb_vec_init(n + 1)
        self.pool = _arb_vec_init(plan.d.pool_len + 1)
        self.X = _arb_vec_init(S * plan.d.n_inputs + 1)
        self.Yb = _arb_vec_init(S * plan.d.n_outputs + 1)
        self.Y = _fmpq_vec_init(S * plan.d.n_outputs + 1)
        self.scale = _arb_vec_init(S + 1)
        self.Z = _arb_vec_init(n * S + 1)
        self.F = _arb_vec_init(n * S + 1)
        self.G = _arb_vec_init((n * S if backward else 0) + 1)
        self.loss = _arb_vec_init(S + 1)
        self.grad_w = _arb_vec_init(plan.d.n_edges + 1)
        self.grad_z = _arb_vec_init(n + 1)
        self.ones = _arb_vec_init(S + 1)
        self.out_ptr = <slong *>calloc(n + 2, sizeof(slong))
        self.out_edge = <slong *>calloc(plan.d.n_edges + 1, sizeof(slong))
        self.in_runs = <Run *>calloc(n + 1, sizeof(Run))
        self.out_runs = <Run *>calloc(n + 1, sizeof(Run))
        if (self.out_ptr == NULL or self.out_edge == NULL or self.in_runs == NULL or
                self.out_runs == NULL):
            raise MemoryError()
        self._build_runs()
        self.workers = _workers_init(self.threads, S, plan.d.n_outputs)

    cdef void _build_runs(self) noexcept:
        """Out-edge lists (CSR by tail, in edge order) and every vertex's edge runs."""
        cdef PlanData *d = &self.plan.d
        cdef slong e, p, k
        for e in range(d.n_edges):
            self.out_ptr[d.edge_src[e] + 2] += 1
        for p in range(d.n):
            self.out_ptr[p + 2] += self.out_ptr[p + 1]
        for e in range(d.n_edges):          # out_ptr[p + 1] fills p; ends at p + 1's start
            k = self.out_ptr[d.edge_src[e] + 1]
            self.out_edge[k] = e
            self.out_ptr[d.edge_src[e] + 1] = k + 1
        for p in range(d.n):
            _find_run(self.in_runs + p, d.in_edge + d.in_ptr[p], d.in_ptr[p + 1] - d.in_ptr[p],
                      d.edge_src)
            _find_run(self.out_runs + p, self.out_edge + self.out_ptr[p],
                      self.out_ptr[p + 1] - self.out_ptr[p], d.edge_dst)

    def __init__(self, Plan plan, inputs, labels=None, scales=None, loss=None, **options):
        cdef slong s, i
        cdef PlanData *d = &plan.d
        cdef fmpq_t q
        fmpq_init(q)
        try:
            for i in range(d.n_edges):
                arb_set_fmpq(self.weight + i, d.weight + i, self.prec)
            for i in range(d.n):
                arb_set_fmpq(self.bias_sum + i, d.bias_sum + i, self.prec)
            for i in range(d.pool_len):
                arb_set_fmpq(self.pool + i, d.pool + i, self.prec)
            for s, x in enumerate(inputs):
                self._load_row(self.X + s * d.n_inputs, x)
            if labels is not None:
                for s, y in enumerate(labels):
                    self._load_row(self.Yb + s * d.n_outputs, y, self.Y + s * d.n_outputs)
            for s in range(self.S):
                arb_one(self.ones + s)
                if scales is None:
                    arb_one(self.scale + s)
                else:
                    fmpq_set_fraction(q, scales[s])
                    arb_set_fmpq(self.scale + s, q, self.prec)
        finally:
            fmpq_clear(q)

    cdef int _load_row(self, arb_ptr out, RationalVector row, fmpq *exact=NULL) except -1:
        cdef Py_ssize_t i
        for i in range(row.n):
            arb_set_fmpq(out + i, row._entry(i), self.prec)
            if exact != NULL:
                fmpq_set(exact + i, row._entry(i))
        return 0

    def __dealloc__(self):
        fmpz_clear(&self.bit_shift)         # zeroed memory is a valid fmpz
        if self.plan is None:
            return
        cdef PlanData *d = &self.plan.d
        cdef slong n = d.n, S = self.S
        _workers_clear(self.workers, self.threads, d.n_outputs)
        _arb_clear(self.weight, d.n_edges + 1)
        _arb_clear(self.bias_sum, n + 1)
        _arb_clear(self.pool, d.pool_len + 1)
        _arb_clear(self.X, S * d.n_inputs + 1)
        _arb_clear(self.Yb, S * d.n_outputs + 1)
        if self.Y != NULL:
            _fmpq_vec_clear(self.Y, S * d.n_outputs + 1)
        _arb_clear(self.scale, S + 1)
        _arb_clear(self.Z, n * S + 1)
        _arb_clear(self.F, n * S + 1)
        _arb_clear(self.G, (n * S if self.backward else 0) + 1)
        _arb_clear(self.loss, S + 1)
        _arb_clear(self.grad_w, d.n_edges + 1)
        _arb_clear(self.grad_z, n + 1)
        _arb_clear(self.ones, S + 1)
        free(self.out_ptr); free(self.out_edge); free(self.in_runs); free(self.out_runs)

    # --- the workers (GIL released) ----------------------------------------------------
    def work(self, int t):
        """Run worker ``t`` on its slice of samples: forward, loss, backward."""
        with nogil:
            self.workers[t].status = self._sweep(self.workers + t)

    def reduce(self, int t, int parts):
        """Worker ``t`` of ``parts``: the gradients of a run of positions, summed over the
        samples in sample order."""
        with nogil:
            self.workers[t].status = self._reduce(t, parts)

    cdef int _sweep(self, BallWorker *w) noexcept nogil:
        cdef slong p, s, n = self.plan.d.n
        for p in range(n):
            for s in range(w.s0, w.s1):
                if self.stop:
                    return STOPPED
                self._forward_vertex(w, p, s)
            w.done += 1
        for s in range(w.s0, w.s1):
            if self.has_labels:
                self._sample_loss(w, s)
        if not self.backward:
            return DONE
        for p in range(n - 1, -1, -1):
            for s in range(w.s0, w.s1):
                if self.stop:
                    return STOPPED
                self._backward_vertex(w, p, s)
            w.done += 1
        return DONE

    cdef void _forward_vertex(self, BallWorker *w, slong p, slong s) noexcept nogil:
        """z_p and f_p of sample s: z = sum (w f_u + b) [+ x]; f = sigma(z)."""
        cdef PlanData *d = &self.plan.d
        cdef slong S = self.S, k, e, prec = self.prec
        cdef slong slot = d.input_slot[p]
        cdef int a = d.vertex_act[p]
        cdef arb_ptr z = self.Z + p * S + s
        cdef arb_ptr fu
        if a < 0:
            arb_set(self.F + p * S + s, self.X + s * d.n_inputs + slot)
            return
        cdef Run *run = self.in_runs + p
        arb_set(z, self.bias_sum + p)
        if slot >= 0:
            arb_add(z, z, self.X + s * d.n_inputs + slot, prec)
        if run.de:
            arb_swap(&w.a, z)
            arb_dot(z, &w.a, 0, self.weight + run.e0, run.de, self.F + run.v0 * S + s,
                    run.dv * S, run.len, prec)
        else:
            for k in range(d.in_ptr[p], d.in_ptr[p + 1]):
                e = d.in_edge[k]
                fu = self.F + d.edge_src[e] * S + s
                if not arb_is_zero(fu) and not arb_is_zero(self.weight + e):
                    arb_addmul(z, self.weight + e, fu, prec)
        self._activate(a, self.F + p * S + s, z, w)

    cdef void _backward_vertex(self, BallWorker *w, slong p, slong s) noexcept nogil:
        """G[p, s] := dL/dz_p = dL/df_p * sigma'(z_p), where dL/df_p (its output seed, in G
        already) is pulled from the dL/dz of p's successors, done before p in reverse order."""
        cdef PlanData *d = &self.plan.d
        cdef slong S = self.S, k, e
        cdef int a = d.vertex_act[p]
        cdef arb_ptr g = self.G + p * S + s
        cdef Run *run = self.out_runs + p
        if a < 0:                   # a source: nothing reads its adjoint
            return
        if run.de:
            arb_swap(&w.a, g)
            arb_dot(g, &w.a, 0, self.weight + run.e0, run.de, self.G + run.v0 * S + s,
                    run.dv * S, run.len, self.prec)
        else:
            for k in range(self.out_ptr[p], self.out_ptr[p + 1]):
                e = self.out_edge[k]
                if not arb_is_zero(self.weight + e):
                    arb_addmul(g, self.weight + e, self.G + d.edge_dst[e] * S + s, self.prec)
        if arb_is_zero(g):
            return
        self._derivative(a, &w.d, self.Z + p * S + s, w)
        arb_mul(g, g, &w.d, self.prec)

    cdef int _reduce(self, int t, int parts) noexcept nogil:
        """dL/db and dL/dw of the positions whose in-edges are worker t's share."""
        cdef PlanData *d = &self.plan.d
        cdef slong p, k, e, S = self.S
        cdef slong first = _first_position(d, d.n_edges * t // parts)
        cdef slong last = d.n if t == parts - 1 else _first_position(d, d.n_edges * (t + 1)
                                                                      // parts)
        for p in range(first, last):
            if self.stop:
                return STOPPED
            if d.in_ptr[p + 1] == d.in_ptr[p]:
                continue
            arb_dot(self.grad_z + p, NULL, 0, self.G + p * S, 1, self.ones, 1, S, self.prec)
            for k in range(d.in_ptr[p], d.in_ptr[p + 1]):
                e = d.in_edge[k]
                arb_dot(self.grad_w + e, NULL, 0, self.G + p * S, 1,
                        self.F + d.edge_src[e] * S, 1, S, self.prec)
        return DONE

    # --- activations: value and backprop rule on balls ---------------------------------
    cdef void _activate(self, int a, arb_ptr out, arb_srcptr z, BallWorker *w) noexcept nogil:
        """out := sigma_a(z) for every point of z (out and z never alias)."""
        cdef PlanData *d = &self.plan.d
        cdef slong length = d.act_len[a], i, prec = self.prec
        cdef int code = d.act_code[a]
        cdef arb_ptr c = self.pool + d.act_off[a]
        if code == ACT_IDENTITY:
            arb_set(out, z)
        elif code == ACT_RELU:          # max(z, 0): [0, hi] on a ball around 0
            arb_zero(out)
            arb_max(out, z, out, prec)
        elif code == ACT_LEAKY:         # z or c z: both branches when z straddles 0
            if arb_is_positive(z):
                arb_set(out, z)
            else:
                arb_mul(out, c, z, prec)
                if not arb_is_nonpositive(z):
                    arb_union(out, out, z, prec)
        elif code == ACT_MONO:          # c z^d
            arb_pow_ui(out, z, d.act_bits[a], prec)
            arb_mul(out, out, c, prec)
        elif code == ACT_POLY:          # Horner
            arb_set(out, c + length - 1)
            for i in range(length - 2, -1, -1):
                arb_mul(out, out, z, prec)
                arb_add(out, out, c + i, prec)
        elif code == ACT_PWL:
            self._pieces(out, z, c, length, False, w)
        else:                           # ACT_ROUNDED
            self._activate(d.act_inner[a], out, z, w)
            _round_ball(out, d.act_bits[a], d.act_flags[a] & ROUND_NEAREST, w, prec)
            if d.act_flags[a] & ROUND_CLIP:
                arb_max(out, out, c, prec)
                arb_min(out, out, c + 1, prec)

    cdef void _pieces(self, arb_ptr out, arb_srcptr z, arb_srcptr c, slong m,
                      bint slope_only, BallWorker *w) noexcept nogil:
        """The union over every piece z may lie in (b_i < z <= b_(i+1)) of s_i z + t_i, or
        of s_i alone. A piece is skipped only when the whole ball is outside it, so the
        piece of every point of z is in the union."""
        cdef slong i, prec = self.prec
        cdef bint first = True
        for i in range(m + 1):
            if i > 0 and arb_le(z, c + i - 1):
                continue
            if i < m and arb_gt(z, c + i):
                continue
            if slope_only:
                arb_set(&w.a, c + m + i)
            else:
                arb_mul(&w.a, c + m + i, z, prec)
                arb_add(&w.a, &w.a, c + 2 * m + 1 + i, prec)
            if first:
                arb_swap(out, &w.a)
                first = False
            else:
                arb_union(out, out, &w.a, prec)

    cdef void _derivative(self, int a, arb_ptr out, arb_srcptr z,
                          BallWorker *w) noexcept nogil:
        """out := the backprop rule sigma_a'(z) of docs/formats.md for every point of z
        (ReLU: 1 above 0, 0 at or below it, [0, 1] on a ball around 0)."""
        cdef PlanData *d = &self.plan.d
        cdef slong length = d.act_len[a], i, prec = self.prec
        cdef int code = d.act_code[a]
        cdef arb_ptr c = self.pool + d.act_off[a]
        if code == ACT_IDENTITY:
            arb_one(out)
        elif code == ACT_RELU or code == ACT_LEAKY:
            if arb_is_positive(z):
                arb_one(out)
            elif code == ACT_RELU:
                arb_zero(out)
            else:
                arb_set(out, c)
            if not arb_is_positive(z) and not arb_is_nonpositive(z):
                arb_one(&w.a)
                arb_union(out, out, &w.a, prec)
        elif code == ACT_MONO:          # d c z^(d-1)
            arb_pow_ui(out, z, d.act_bits[a] - 1, prec)
            arb_mul(out, out, c + 1, prec)
        elif code == ACT_POLY:          # Horner over the stored i c_i
            if length == 1:
                arb_zero(out)
                return
            arb_set(out, c + 2 * length - 2)
            for i in range(2 * length - 3, length - 1, -1):
                arb_mul(out, out, z, prec)
                arb_add(out, out, c + i, prec)
        elif code == ACT_PWL:
            self._pieces(out, z, c, length, True, w)
        elif d.act_flags[a] & ROUND_BACKWARD_ZERO:
            arb_zero(out)
        else:                           # straight-through: inner'(z) rounded to k bits
            self._derivative(d.act_inner[a], out, z, w)
            _round_ball(out, d.act_bits[a], d.act_flags[a] & ROUND_NEAREST, w, prec)

    # --- losses on balls ----------------------------------------------------------------
    cdef void _sample_loss(self, BallWorker *w, slong s) noexcept nogil:
        """loss[s] := scale_s * l(sample s); with backward, seed dL/df at the outputs.
        A 0/1 loss that the ball does not decide adds [0, 1]."""
        cdef PlanData *d = &self.plan.d
        cdef slong o, n_out = d.n_outputs, S = self.S, prec = self.prec
        cdef arb_ptr acc = self.loss + s
        cdef arb_ptr f
        cdef int fit = 0, differs
        arb_zero(acc)
        for o in range(n_out):
            f = self.F + d.output_pos[o] * S + s
            arb_zero(w.seed + o)
            if self.loss_code == LOSS_EXACT_FIT:
                differs = _differs(f, self.Y + s * n_out + o)
                if differs == 1 or fit == 1:
                    fit = 1
                elif differs < 0:
                    fit = -1
            else:
                self._loss_entry(w, s, acc, f, self.Yb + s * n_out + o, self.Y + s * n_out + o,
                                 w.seed + o)
        if self.loss_code == LOSS_EXACT_FIT:
            self._add_indicator(acc, fit, w)
        arb_mul(acc, acc, self.scale + s, prec)
        if self.backward:
            for o in range(n_out):
                f = self.G + d.output_pos[o] * S + s
                arb_add(f, f, w.seed + o, prec)

    cdef void _loss_entry(self, BallWorker *w, slong s, arb_ptr acc, arb_srcptr f,
                          arb_srcptr y, const fmpq *yq, arb_ptr seed) noexcept nogil:
        """acc += l(f, y); seed := scale_s * dl/df."""
        cdef slong prec = self.prec
        cdef int bit
        if self.loss_code == LOSS_SQUARE:      # (f - y)^2, seed 2 (f - y)
            arb_sub(&w.a, f, y, prec)
            arb_addmul(acc, &w.a, &w.a, prec)
            arb_mul_2exp_si(&w.a, &w.a, 1)
            arb_mul(seed, self.scale + s, &w.a, prec)
        elif self.loss_code == LOSS_HINGE:     # max(0, 1 - y f), seed -y on the slope
            arb_mul(&w.a, y, f, prec)
            arb_neg(&w.a, &w.a)
            arb_one(&w.b)
            arb_add(&w.a, &w.a, &w.b, prec)
            if arb_is_nonpositive(&w.a):
                return
            arb_mul(seed, self.scale + s, y, prec)
            arb_neg(seed, seed)
            if arb_is_positive(&w.a):
                arb_add(acc, acc, &w.a, prec)
            else:                               # the kink inside: both sides
                arb_zero(&w.b)
                arb_max(&w.a, &w.a, &w.b, prec)
                arb_add(acc, acc, &w.a, prec)
                arb_union(seed, seed, &w.b, prec)
        elif self.loss_code == LOSS_ZERO_ONE:
            self._add_indicator(acc, _differs(f, yq), w)
        else:                                   # bit k of floor(|f| 2^shift) != y
            arb_abs(&w.a, f)
            arb_mul_2exp_fmpz(&w.a, &w.a, &self.bit_shift)
            _floor_ball(&w.a, &w.a, w, prec)
            bit = _parity(&w.a, w)
            self._add_indicator(acc, -1 if bit < 0 else bit != fmpq_is_one(yq), w)

    cdef void _add_indicator(self, arb_ptr acc, int value, BallWorker *w) noexcept nogil:
        """acc += value (0 or 1), or += [0, 1] when value is -1 (not decided)."""
        if value == 1:
            arb_one(&w.c)
            arb_add(acc, acc, &w.c, self.prec)
        elif value < 0:
            _unit_interval(&w.c, w, self.prec)
            arb_add(acc, acc, &w.c, self.prec)

    # --- results (after the workers have finished) -------------------------------------
    def statuses(self):
        return [self.workers[t].status for t in range(self.threads)]

    def progress(self):
        """Vertex steps finished so far (averaged over workers), and the total to do."""
        total = self.plan.d.n * (2 if self.backward else 1)
        return sum(self.workers[t].done for t in range(self.threads)) / self.threads, total

    def outputs(self):
        """Per sample, its output balls as (mid mantissa, mid exponent, rad mantissa, rad
        exponent) tuples."""
        cdef slong s, o, S = self.S
        cdef PlanData *d = &self.plan.d
        return [[ball_tuple(self.F + d.output_pos[o] * S + s) for o in range(d.n_outputs)]
                for s in range(S)]

    def total_loss(self):
        """The loss ball: the samples' losses summed in sample order."""
        cdef arb_t total
        arb_init(total)
        try:
            arb_dot(total, NULL, 0, self.loss, 1, self.ones, 1, self.S, self.prec)
            return ball_tuple(total)
        finally:
            arb_clear(total)

    def gradients(self):
        """(dL/dw, dL/db) per edge in edge order, as BallArrays (after the reduction); a
        bias's gradient is dL/dz of the edge's head."""
        cdef PlanData *d = &self.plan.d
        return (ball_array(self.grad_w, d.n_edges, NULL),
                ball_array(self.grad_z, d.n_edges, d.edge_dst))

    def vertex_values(self, slong s):
        """(z, f) of sample s by position as ball tuples (z is None for sources)."""
        cdef slong p, S = self.S
        cdef PlanData *d = &self.plan.d
        z = [None if d.vertex_act[p] < 0 else ball_tuple(self.Z + p * S + s)
             for p in range(d.n)]
        f = [ball_tuple(self.F + p * S + s) for p in range(d.n)]
        return z, f


cdef slong _first_position(const PlanData *d, slong edges) noexcept nogil:
    """The first position whose in-edges start at or after edge ``edges`` (d.n if none)."""
    cdef slong low = 0, high = d.n, middle
    while low < high:
        middle = (low + high) // 2
        if d.in_ptr[middle] >= edges:
            high = middle
        else:
            low = middle + 1
    return low


cdef void _arb_clear(arb_ptr vec, slong n) noexcept:
    if vec != NULL:
        _arb_vec_clear(vec, n)


# --- balls as Python integers, and back ----------------------------------------------------

cdef class BallArray:
    """A read-only array of balls kept in Arb, each read out as a ball tuple on access (a
    pass's gradients: only what is read is converted)."""

    cdef arb_ptr data
    cdef readonly slong n

    def __dealloc__(self):
        if self.data != NULL:
            _arb_vec_clear(self.data, self.n + 1)

    def __len__(self):
        return self.n

    def tuple_at(self, slong i):
        """Entry i as (m, e, r, f)."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        return ball_tuple(self.data + i)


cdef BallArray ball_array(arb_srcptr src, slong n, const slong *index):
    """A BallArray of src[index[i]] (src[i] without an index), i < n: copies."""
    cdef BallArray out = BallArray.__new__(BallArray)
    cdef slong i
    out.data = _arb_vec_init(n + 1)
    out.n = n
    for i in range(n):
        arb_set(out.data + i, src + (i if index == NULL else index[i]))
    return out


cdef tuple ball_tuple(arb_srcptr x):
    """(m, e, r, f) with midpoint m 2^e and radius r 2^f exactly (m odd or 0, r < 2^30)."""
    cdef fmpz_t m, e
    cdef arf_t rad
    fmpz_init(m); fmpz_init(e); arf_init(rad)
    try:
        arf_get_fmpz_2exp(m, e, arb_midref(x))
        mid = (fmpz_get_pyint(m), fmpz_get_pyint(e))
        arf_set_mag(rad, arb_radref(x))
        arf_get_fmpz_2exp(m, e, rad)
        return mid + (fmpz_get_pyint(m), fmpz_get_pyint(e))
    finally:
        fmpz_clear(m); fmpz_clear(e); arf_clear(rad)
