# cython: language_level=3, cdivision=True
"""One evaluation of a Plan: the memory every kernel shares, its workers, and its results.

A ``Pass`` owns the inputs X, labels Y, per-sample loss scales, outputs, gradient
accumulators and one ``Worker`` struct per thread; its ``Kernel`` (bitprop._sweep or
bitprop._stack) does the arithmetic. Samples are split into contiguous slices, one worker
thread each; exact sums do not depend on the split, so every thread count gives the same bits.

Interrupts: workers never longjmp out of FLINT. They poll ``stop`` between operations; the
Python driver sets it on Ctrl-C or when a time budget runs out, so every object stays valid.
"""

from array import array

from libc.stdlib cimport calloc, free
from posix.unistd cimport usleep

from bitprop._flint cimport *
from bitprop._plan cimport PlanData
from bitprop._codes cimport ACT_ROUNDED, LOSS_SQUARE, LOSS_HINGE, LOSS_ZERO_ONE, LOSS_EXACT_FIT
from bitprop._factored cimport (factored_init, factored_clear, factored_set_base,
                               power_of_two)
from bitprop._columns cimport release, columns_clear
from bitprop._sums cimport sums_from
from bitprop._convert cimport (RationalVector, fmpz_set_pyint, fmpq_set_fraction,
                               fmpq_get_fraction, fmpq_bit_length, vector_adopt, vector_take,
                               vector_indexed)

cdef extern from *:
    """
    static void bitprop_add(int *x) { __atomic_add_fetch(x, 1, __ATOMIC_SEQ_CST); }
    static int bitprop_read(int *x) { return __atomic_load_n(x, __ATOMIC_SEQ_CST); }
    """
    void bitprop_add(int *x) nogil
    int bitprop_read(int *x) nogil

cdef extern from "<sched.h>" nogil:
    int sched_yield()


cdef bint _wait(int *counter, int target, int *failed, int *stop) noexcept nogil:
    """Wait until counter reaches target (yielding, then sleeping); False as soon as *failed
    or *stop is set, when given."""
    cdef long spins = 0
    while bitprop_read(counter) < target:
        if (failed != NULL and bitprop_read(failed)) or (stop != NULL and bitprop_read(stop)):
            return False
        spins += 1
        if spins < 2000:        # then sleep: another process may need the core
            sched_yield()
        else:
            usleep(50)
    return True


WHAT_NAMES = ("pre-activation z", "value f", "adjoint dL/dz",
              "value f (a lower bound, predicted before computing it)",
              "a partial sum of value f's polynomial", "a partial sum of sigma'(z)'s polynomial")
#: The status of a worker that ended before finishing its sweep.
STATUS_STOPPED = STOPPED


def release_caches():
    """Free the calling thread's FLINT caches (a worker thread's, as it ends: bitprop.workers)."""
    with nogil:
        flint_cleanup()


cdef class Kernel:
    """The interface of a kernel: see _pass.pxd."""

    cdef void prepare(self, Pass run) except *:
        """Called once the pass holds its samples, before any worker starts."""

    cdef int work(self, Pass run, Worker *w) noexcept nogil:
        return STOPPED


# --- the workers' state: allocated and freed here, and only here ----------------------

cdef Worker *workers_init(int threads, slong S, slong n, slong n_outputs, fmpq *grad_w,
                          fmpq *grad_z, slong regions, slong n_edges) except NULL:
    """Workers 0 .. threads - 1 over contiguous slices of S samples; worker t accumulates
    into region t (or region 0 when there is one)."""
    cdef Worker *workers = <Worker *>calloc(threads, sizeof(Worker))
    cdef long *bits = <long *>calloc(3 * threads * n + 1, sizeof(long))
    cdef Worker *w
    cdef int t
    if workers == NULL or bits == NULL:
        free(workers); free(bits)
        raise MemoryError()
    for t in range(threads):
        w = workers + t
        w.index = t
        w.s0, w.s1 = S * t // threads, S * (t + 1) // threads
        w.bits_z, w.bits_f, w.bits_adj = bits + 3 * t * n, bits + (3 * t + 1) * n, \
            bits + (3 * t + 2) * n
        w.grad_w = grad_w + (t if regions > 1 else 0) * n_edges
        w.grad_z = grad_z + (t if regions > 1 else 0) * n
        w.seed = _fmpq_vec_init(n_outputs + 1)
        fmpq_init(&w.loss); fmpq_init(&w.qtmp); fmpq_init(&w.qacc)
        fmpz_init(&w.g); fmpz_init(&w.tmp); fmpz_init(&w.q); fmpz_init(&w.r)
        factored_init(&w.fac)
    return workers


cdef void workers_clear(Worker *workers, int threads, slong n_outputs) noexcept:
    cdef Worker *w
    cdef int t
    if workers == NULL:
        return
    for t in range(threads):
        w = workers + t
        _fmpq_vec_clear(w.seed, n_outputs + 1)
        fmpq_clear(&w.loss); fmpq_clear(&w.qtmp); fmpq_clear(&w.qacc)
        fmpz_clear(&w.g); fmpz_clear(&w.tmp); fmpz_clear(&w.q); fmpz_clear(&w.r)
        factored_clear(&w.fac)
        release(&w.shared[0])
        release(&w.shared[1])
        columns_clear(&w.columns)
    free(workers[0].bits_z)
    free(workers)


# --- one evaluation ----------------------------------------------------------------------

cdef class Pass:
    """All memory of one evaluation of a Plan on S samples, split over ``threads`` workers,
    run by ``kernel``. ``inputs`` and ``labels`` are a Dataset's rows (RationalVectors)."""

    def __cinit__(self, Plan plan, Kernel kernel, inputs, labels=None, scales=None, loss=None,
                  *, int threads=1, bint backward=False, bint keep_all=False, max_bits=None):
        cdef slong S = len(inputs), n = plan.d.n
        self.plan = plan
        self.kernel = kernel
        self.S = S
        self.threads = max(1, min(threads, S)) if S else 1
        self.backward = backward
        self.keep_all = keep_all
        self.has_labels = labels is not None
        self.max_bits = max_bits or 0
        self.canonical_gradients = True
        if loss is not None:
            self.loss_code = loss.code
            fmpz_set_pyint(&self.loss_index, loss.index)
            fmpz_set_pyint(&self.loss_shift, loss.shift)
        self.X = _fmpq_vec_init(S * plan.d.n_inputs + 1)
        self.Y = _fmpq_vec_init(S * plan.d.n_outputs + 1)
        self.scale = _fmpq_vec_init(S + 1)
        self.outputs = _fmpq_vec_init(S * plan.d.n_outputs + 1)
        self.regions = 1 if kernel.rows_only else self.threads
        self.grad_w = _fmpq_vec_init(self.regions * plan.d.n_edges + 1)
        self.grad_z = _fmpq_vec_init(self.regions * n + 1)
        self.workers = workers_init(self.threads, S, n, plan.d.n_outputs, self.grad_w,
                                    self.grad_z, self.regions, plan.d.n_edges)
        self.grad_bits = <long *>calloc(2 * self.threads + 2, sizeof(long))
        if self.grad_bits == NULL:
            raise MemoryError()

    def __init__(self, Plan plan, Kernel kernel, inputs, labels=None, scales=None, loss=None,
                 **options):
        cdef slong s
        for s, x in enumerate(inputs):
            _load_row(self.X + s * plan.d.n_inputs, x)
        if labels is not None:
            for s, y in enumerate(labels):
                _load_row(self.Y + s * plan.d.n_outputs, y)
        if scales is not None:
            for s, q in enumerate(scales):
                fmpq_set_fraction(&self.scale[s], q)
        kernel.prepare(self)

    def __dealloc__(self):
        free(self.grad_bits)
        fmpz_clear(&self.loss_index)        # zeroed memory is a valid fmpz: no init needed
        fmpz_clear(&self.loss_shift)
        if self.plan is None:
            return
        cdef PlanData *plan = &self.plan.d
        workers_clear(self.workers, self.threads, plan.n_outputs)
        _clear(self.X, self.S * plan.n_inputs + 1)
        _clear(self.Y, self.S * plan.n_outputs + 1)
        _clear(self.scale, self.S + 1)
        _clear(self.outputs, self.S * plan.n_outputs + 1)
        _clear(self.grad_w, self.regions * plan.n_edges + 1)
        _clear(self.grad_z, self.regions * plan.n + 1)

    # --- what kernels call ---------------------------------------------------------------
    cdef void use_primes(self, PrimeBase network) except *:
        """Every worker takes gcds over the primes of ``network`` (plan_primes) and of the
        samples' denominators: every denominator of the pass divides a product of them."""
        cdef PrimeBase primes = network.copy()
        cdef int t
        primes.add_denominators(self.X, self.S * self.plan.d.n_inputs)
        if self.has_labels:
            primes.add_denominators(self.Y, self.S * self.plan.d.n_outputs)
        primes.add_denominators(self.scale, self.S)
        primes.finish()
        self.primes = primes
        for t in range(self.threads):
            factored_set_base(&self.workers[t].fac, &primes.d)

    def work(self, int t):
        """Run worker ``t`` on its slice of samples (called in its own thread; GIL released)."""
        with nogil:
            self.workers[t].status = self.kernel.work(self, self.workers + t)

    cdef int guard(self, Worker *w, slong p, slong s, slong step, int what,
                   const fmpq *value, long *record) noexcept nogil:
        """Record the bit length of ``value``; BIT_LIMIT when it exceeds max_bits."""
        cdef long bits = fmpq_bit_length(value)
        if bits > record[0]:
            record[0] = bits
        if self.max_bits and bits > self.max_bits:
            return self.mark_fault(w, p, s, step, what, bits)
        return DONE

    cdef int over(self, Worker *w, slong p, slong s, slong step, int what,
                  long bits) noexcept nogil:
        """BIT_LIMIT (the fault marked) when ``bits`` (of a value about to be computed, or
        on its way) exceed max_bits, else DONE; nothing is recorded in the statistics."""
        if self.max_bits and bits > self.max_bits:
            return self.mark_fault(w, p, s, step, what, bits)
        return DONE

    cdef int mark_fault(self, Worker *w, slong p, slong s, slong step, int what,
                        long bits) noexcept nogil:
        """Note w's first value over max_bits: position p, sample s, at ``step`` (sweep_step);
        returns BIT_LIMIT."""
        w.fault.position, w.fault.what, w.fault.bits = p, what, bits
        w.fault.step, w.fault.sample = step, s
        return BIT_LIMIT

    cdef void sample_loss(self, Worker *w, slong s) noexcept nogil:
        """Add sample s's loss, read off its outputs, to w.loss; with backward, w.seed[o] :=
        scale_s * dl/df_o (the adjoint each output starts with)."""
        cdef slong o, n_out = self.plan.d.n_outputs
        fmpq_zero(&w.qacc)
        for o in range(n_out):
            fmpq_zero(w.seed + o)
            self._loss_entry(w, s, self.outputs + s * n_out + o, self.Y + s * n_out + o,
                             w.seed + o if self.backward else NULL)
        if self.loss_code == LOSS_EXACT_FIT and not fmpq_is_zero(&w.qacc):
            fmpq_one(&w.qacc)                   # one indicator per sample vector
        fmpq_addmul(&w.loss, self.scale + s, &w.qacc)

    cdef void _loss_entry(self, Worker *w, slong s, const fmpq *f, const fmpq *y,
                          fmpq *seed) noexcept nogil:
        """w.qacc += l(f, y); seed += scale_s * dl/df (when seed is not NULL)."""
        cdef fmpq *tmp = &w.qtmp
        cdef fmpq *acc = &w.qacc
        if self.loss_code == LOSS_SQUARE:      # (f - y)^2, seed 2 (f - y)
            fmpq_sub(tmp, f, y)
            fmpq_addmul(acc, tmp, tmp)
            if seed != NULL:
                fmpq_mul_2exp(tmp, tmp, 1)
                fmpq_addmul(seed, self.scale + s, tmp)
        elif self.loss_code == LOSS_HINGE:     # max(0, 1 - y f), seed -y on the slope
            fmpq_mul(tmp, y, f)
            fmpq_neg(tmp, tmp)
            fmpz_add(fmpq_numref(tmp), fmpq_numref(tmp), fmpq_denref(tmp))
            if fmpq_sgn(tmp) > 0:
                fmpq_add(acc, acc, tmp)
                if seed != NULL:
                    fmpq_submul(seed, self.scale + s, y)
        elif self.loss_code == LOSS_ZERO_ONE or self.loss_code == LOSS_EXACT_FIT:
            if not fmpq_equal(f, y):
                fmpz_add(fmpq_numref(acc), fmpq_numref(acc), fmpq_denref(acc))
        else:                                   # bit k of floor(|f| 2^shift) != y
            if (_bit_of(f, &self.loss_index, &self.loss_shift, &w.q, &w.r, &w.g) !=
                    fmpq_is_one(y)):
                fmpz_add(fmpq_numref(acc), fmpq_numref(acc), fmpq_denref(acc))

    # --- results (called by the driver after the workers have finished) -------------------
    def progress(self):
        """Vertex steps finished so far, summed over workers, and the total to do."""
        total = self.plan.d.n * (2 if self.backward else 1)
        return sum(self.workers[t].done for t in range(self.threads)) / self.threads, total

    def statuses(self):
        return [self.workers[t].status for t in range(self.threads)]

    def fault(self):
        """(position, what, bits) of the value over max_bits that a one-thread sweep meets
        first (the earliest of the workers' first faults), or None."""
        cdef Fault *f
        faults = [(self.workers[t].fault.step, self.workers[t].fault.sample, t)
                  for t in range(self.threads) if self.workers[t].status == BIT_LIMIT]
        if not faults:
            return None
        f = &self.workers[min(faults)[-1]].fault
        return f.position, WHAT_NAMES[f.what], f.bits

    def timings(self):
        """(forward, backward) seconds: the slowest worker's. A forward pass alone ends once
        its outputs (and loss) are in canonical form; with backward, that is backward's."""
        cdef Worker *w = self.workers
        if not self.backward:
            return max(w[t].t_end - w[t].t_start for t in range(self.threads)), 0.0
        return (max(w[t].t_forward - w[t].t_start for t in range(self.threads)),
                max(w[t].t_end - w[t].t_forward for t in range(self.threads)))

    def take_outputs(self):
        """The S samples' output vectors, as RationalVectors (read as Fractions), moved out
        of the pass, not copied: the pass holds zeros in their place afterwards."""
        cdef slong s, m = self.plan.d.n_outputs
        return [vector_take(self.outputs + s * m, m) for s in range(self.S)]

    def vertex_values(self, slong s):
        """(z, f) of sample s by position (z is None for sources); needs keep_all."""
        return self.kernel.vertex_values(self, s)

    def total_loss(self):
        cdef fmpq_t total
        cdef int t
        fmpq_init(total)
        try:
            for t in range(self.threads):
                fmpq_add(total, total, &self.workers[t].loss)
            return fmpq_get_fraction(total)
        finally:
            fmpq_clear(total)

    # --- barriers ------------------------------------------------------------------------
    cdef bint barrier(self, Worker *w) noexcept nogil:
        """w arrives at its next barrier and waits for every worker; False when a worker
        left early or a stop was asked for (then nobody else will arrive)."""
        w.barriers += 1
        bitprop_add(&self.arrived)
        return _wait(&self.arrived, w.barriers * self.threads, &self.failed, &self.stop)

    cdef void leave(self, Worker *w, int result) noexcept nogil:
        """w is done with its backward sweep (``result``: how it ended): wait until every
        worker is, since another may still read w's memory; only then may w free it."""
        if not self.backward:
            return
        if result != DONE:
            bitprop_add(&self.failed)
        bitprop_add(&self.left)
        _wait(&self.left, self.threads, NULL, NULL)   # every worker gets here: sweeps end

    def reduce_gradients(self):
        """Sum the workers' accumulators into region 0: exact, so the split never shows.
        Entries the kernel set once from all samples are already whole there."""
        cdef int t
        for t in range(self.threads):
            self.reduce_part(t)

    def reduce_part(self, int t):
        """Share t of reduce_gradients, for one thread each: blocks of REDUCE_BLOCK edges
        and positions dealt round-robin over ``threads`` (consecutive edges of a layer cost
        alike, so the shares do). The other regions' entries are added into region 0 and
        left zero, holding no memory."""
        cdef PlanData *plan = &self.plan.d
        cdef fmpz_t tmp
        fmpz_init(tmp)
        with nogil:
            _reduce_share(self.grad_w, plan.n_edges, self.regions, self.kernel.edge_set_once,
                          t, self.threads, tmp)
            _reduce_share(self.grad_z, plan.n, self.regions, self.kernel.vertex_set_once,
                          t, self.threads, tmp)
            if self.canonical_gradients and not self.kernel.rows_only:
                # the bits of the share's summed entries (those set once are noted already)
                self.grad_bits[2 * t] = _share_bits(self.grad_w, plan.n_edges, NULL,
                                                    self.kernel.edge_set_once, t, self.threads)
                self.grad_bits[2 * t + 1] = _share_bits(self.grad_z, plan.n, plan.in_ptr,
                                                        self.kernel.vertex_set_once, t,
                                                        self.threads)
        fmpz_clear(tmp)

    def gradients(self):
        """(dL/dw, dL/db) per edge in edge order as RationalVectors (after reduce_gradients);
        every per-edge bias gradient is dL/dz of the edge's head, stored once per vertex.
        dL/dw is moved out of the pass, not copied: call this last, and once."""
        cdef fmpq *weights = self.grad_w
        bias = vector_indexed(self.grad_z, self.plan.d.n, self.plan.d.edge_dst,
                              self.plan.d.n_edges)
        self.grad_w = NULL          # region 0 becomes the vector's (the others hold zeros)
        return vector_adopt(weights, self.plan.d.n_edges), bias

    def gradient_sums(self):
        """(dL/dw, dL/db) per edge as PartialSums (after reduce_gradients), for a pass run
        with ``canonical_gradients`` False: the dense rows' integers over their common
        denominator, moved out of the pass. Call this last, and once."""
        return (sums_from(self.grad_w, self.plan.d.n_edges, NULL, self.plan.d.n_edges),
                sums_from(self.grad_z, self.plan.d.n, <const long *>self.plan.d.edge_dst,
                          self.plan.d.n_edges))

    def gradient_bits(self):
        """(max bits of dL/dw, max bits of dL/db) over all edges, in a pass with canonical
        gradients: of the entries set once, what the workers noted as they set them; of the
        others, what the shares of reduce_gradients found."""
        cdef int t
        return (max(max(self.grad_bits[2 * t], self.workers[t].grad_bits_w)
                    for t in range(self.threads)),
                max(max(self.grad_bits[2 * t + 1], self.workers[t].grad_bits_b)
                    for t in range(self.threads)))

    def bit_statistics(self, list depths):
        """(z, f, adjoint, per_depth, max_value, max_adjoint): the max over all workers and
        samples of the bits of z, f and dL/dz, per position (arrays) and per depth."""
        cdef slong p, n = self.plan.d.n, d, levels = (max(depths) + 1) if n else 0
        cdef int t
        cdef long bz, bf, ba, max_value = 0, max_adjoint = 0
        cdef Worker *w = self.workers
        cdef long *level = <long *>calloc(3 * levels + 3, sizeof(long))
        if level == NULL:
            raise MemoryError()
        z, f, adjoint = (array("q", bytes(8 * n)) for _ in range(3))
        cdef long long[::1] zs = z, fs = f, adjs = adjoint
        try:
            for p in range(n):
                bz, bf, ba = w[0].bits_z[p], w[0].bits_f[p], w[0].bits_adj[p]
                for t in range(1, self.threads):
                    bz = max(bz, w[t].bits_z[p])
                    bf = max(bf, w[t].bits_f[p])
                    ba = max(ba, w[t].bits_adj[p])
                zs[p], fs[p], adjs[p] = bz, bf, ba
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
        return z, f, adjoint, per_depth, max_value, max_adjoint

    def apply_step(self, lr, trainable):
        """theta := theta - lr * dL/dtheta on the plan's trainable parameters (exact), on the
        pass's threads (see _Step)."""
        from .workers import run_shares
        cdef _Step step = _Step(self, lr, trainable)
        cdef int parts = self.threads if self.plan.d.n_edges >= STEP_EDGES_PER_THREAD else 1
        if parts == 1:
            step.work(0, 1)
        else:
            run_shares(lambda t: step.work(t, parts), parts, step.halt)


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


cdef int _bit_of(const fmpq *f, const fmpz *index, const fmpz *shift, fmpz *q, fmpz *r,
                 fmpz *m) noexcept nogil:
    """Bit ``index`` of floor(|f| * 2^shift), f = p/d: floor(|p| 2^m / d) mod 2 with
    m = shift - index, never building 2^m (k and s are integers of any size): for m >= 0 it
    is whether |p| (2^m mod 2d) mod 2d >= d (powering mod 2d); for m < 0 bit 0 of
    floor(floor(|p| / 2^-m) / d), which is 0 once 2^-m exceeds |p|."""
    cdef fmpz two = 2                   # a small fmpz is its value: no init or clear
    fmpz_sub(m, shift, index)
    if fmpz_sgn(m) >= 0:
        fmpz_mul_2exp(r, fmpq_denref(f), 1)
        fmpz_powm(q, &two, m, r)
        fmpz_mul(q, q, fmpq_numref(f))
        fmpz_abs(q, q)
        fmpz_mod(q, q, r)
        return fmpz_cmp(q, fmpq_denref(f)) >= 0
    fmpz_neg(m, m)
    if fmpz_cmp_ui(m, fmpz_bits(fmpq_numref(f))) >= 0:
        return 0
    fmpz_abs(q, fmpq_numref(f))
    fmpz_fdiv_q_2exp(q, q, fmpz_get_ui(m))
    fmpz_fdiv_q(q, q, fmpq_denref(f))
    return fmpz_tstbit(q, 0)


#: Entries a reduce share takes in a row before the next share's turn.
cdef slong REDUCE_BLOCK = 256


cdef void _reduce_share(fmpq *acc, slong n, int regions, const char *once, int t,
                        int threads, fmpz *tmp) noexcept nogil:
    """Share t of threads of acc[0..n) += acc[r n..(r + 1) n) for every region r >= 1
    (entries marked in ``once`` are whole in region 0 already), the regions left zero."""
    cdef int r
    cdef slong b, k
    for r in range(1, regions):
        b = t * REDUCE_BLOCK
        while b < n:
            for k in range(b, min(b + REDUCE_BLOCK, n)):
                if once == NULL or not once[k]:    # (the others' regions stay zero)
                    _add_into(acc + k, acc + r * n + k, tmp)
                    fmpq_zero(acc + r * n + k)
            b += threads * REDUCE_BLOCK


cdef long _share_bits(const fmpq *acc, slong n, const slong *in_ptr, const char *once,
                      int t, int threads) noexcept nogil:
    """The most bits of acc's entries in share t of threads (as _reduce_share deals them),
    but those marked in ``once``; with ``in_ptr``, only entries k with in-edges (acc: dL/dz
    per position)."""
    cdef slong b = t * REDUCE_BLOCK, k
    cdef long most = 0
    while b < n:
        for k in range(b, min(b + REDUCE_BLOCK, n)):
            if (in_ptr == NULL or in_ptr[k + 1] > in_ptr[k]) and (once == NULL or not once[k]):
                most = max(most, fmpq_bit_length(acc + k))
        b += threads * REDUCE_BLOCK
    return most


cdef void _add_into(fmpq *x, const fmpq *y, fmpz *tmp) noexcept nogil:
    """x += y. Both over powers of 2 (float data): aligned by a shift and reduced by the
    sum's power of 2, where fmpq_add would take a gcd of the numerators' size."""
    cdef ulong ex, ey, v
    if fmpq_is_zero(y):
        return
    if not (power_of_two(fmpq_denref(x), &ex) and power_of_two(fmpq_denref(y), &ey)):
        fmpq_add(x, x, y)
        return
    if ey > ex:
        fmpz_mul_2exp(fmpq_numref(x), fmpq_numref(x), ey - ex)
        fmpz_set(fmpq_denref(x), fmpq_denref(y))
        fmpz_add(fmpq_numref(x), fmpq_numref(x), fmpq_numref(y))
        ex = ey
    else:
        fmpz_mul_2exp(tmp, fmpq_numref(y), ex - ey)
        fmpz_add(fmpq_numref(x), fmpq_numref(x), tmp)
    if fmpz_is_zero(fmpq_numref(x)):
        fmpz_one(fmpq_denref(x))
        return
    v = fmpz_val2(fmpq_numref(x))
    if v > ex:
        v = ex
    if v:
        fmpz_tdiv_q_2exp(fmpq_numref(x), fmpq_numref(x), v)
        fmpz_tdiv_q_2exp(fmpq_denref(x), fmpq_denref(x), v)


cdef PrimeBase plan_primes(const PlanData *plan):
    """The primes of a network's own denominators: every weight, bias sum and activation
    parameter of the plan, and 2 for rounding to k bits."""
    cdef PrimeBase primes = PrimeBase()
    cdef slong i
    primes.add_denominators(plan.weight, plan.n_edges)
    primes.add_denominators(plan.bias_sum, plan.n)
    primes.add_denominators(plan.pool, plan.pool_len)
    for i in range(plan.n_acts):
        if plan.act_code[i] == ACT_ROUNDED:
            primes.add_prime(2)
    return primes
