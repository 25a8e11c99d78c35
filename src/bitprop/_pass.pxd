# cython: language_level=3
# One evaluation's memory and results (Pass), its workers' state (Worker), and the interface
# every kernel implements (Kernel). The kernels: bitprop._sweep (one vertex at a time, with
# dense blocks inside) and bitprop._stack (a stack of dense layers), both on bitprop._dense.
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from bitprop._flint cimport fmpq, fmpz, slong
from bitprop._plan cimport Plan, PlanData
from bitprop._factored cimport Factored, PrimeBase
from bitprop._columns cimport Shared, Columns


cdef inline double monotonic_now() noexcept nogil:
    """Seconds on the monotonic clock (kernel timings, without the GIL)."""
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec + 1e-9 * t.tv_nsec

# Worker status codes.
cdef enum:
    DONE = 0
    STOPPED = 1
    BIT_LIMIT = 2

# Which value hit the bit limit (names: WHAT_NAMES in _pass.pyx).
cdef enum:
    WHAT_Z = 0
    WHAT_F = 1
    WHAT_ADJOINT = 2
    WHAT_F_PREDICTED = 3        # f of a power, stopped before it was computed
    WHAT_F_PARTIAL = 4          # a Horner partial sum of f's polynomial
    WHAT_DERIVATIVE_PARTIAL = 5 # a Horner partial sum of sigma'(z), on the way to dL/dz

cdef inline long power_bits_floor(long b, long d, long c_bits) noexcept nogil:
    """A lower bound of the bits of c z^d in lowest terms, from b = bits of z = p/q (lowest
    terms, p != 0) and c_bits = bits of c = u/v: |p|^d >= 2^(d (bits p - 1)) and q^d the
    same, and cancelling against c divides the numerator by at most v and the denominator
    by at most u. Every guard that speaks before a power uses it, so that it never stops a
    power whose value is within the limit."""
    cdef long most = (<long>1) << 62     # the largest max_bits: reported when more
    if b <= 2:
        return 2
    if d > (most - 2 + c_bits) // (b - 2):
        return most
    return max(2, d * (b - 2) + 2 - c_bits)


cdef inline slong sweep_step(slong positions, slong p, bint backward, slong scale,
                             slong sub) noexcept nogil:
    """When a one-thread sweep records a value: the rule that makes the bit-limit fault the
    same for every thread count. Every kernel numbers what it records with it, and the
    reported fault is the one with the least (step, sample) over all workers' first faults.

    A sweep visits ``positions`` positions forward, then backward: position p's forward
    values come at p, its backward ones at 2 * positions - 1 - p. Each visit spans ``scale``
    steps, numbered by ``sub`` from 0, for a position that records several values in order
    (a dense block's layers: z and f of its layer k at 2k - 1 and 2k forward, adjoints of
    its last layer first backward). A dense stack is one block at position 0 of a one-
    position sweep."""
    return ((2 * positions - 1 - p) if backward else p) * scale + sub


cdef struct Fault:
    # A worker's first value over max_bits.
    slong step          # sweep_step of the record
    slong sample
    slong position
    int what            # WHAT_Z, WHAT_F or WHAT_ADJOINT
    long bits


cdef struct Worker:
    # Everything one worker thread owns: its samples s0 <= s < s1, status and progress,
    # bit statistics, gradient accumulators and scratch, and the dense engine's state.
    # Allocated and freed in one place (workers_init, workers_clear in _pass.pyx).
    int index
    slong s0, s1
    int status
    slong done                  # vertex steps finished (progress)
    Fault fault
    double t_start, t_forward, t_end
    long *bits_z                # per position: max bits over the worker's samples
    long *bits_f
    long *bits_adj
    fmpq *grad_w                # its gradient accumulators: per edge and per position
    fmpq *grad_z                # (region 0, shared, when rows are set once)
    long grad_bits_w, grad_bits_b   # most bits of the dL/dw and dL/db entries it set once
    fmpq loss
    fmpq *seed                  # per output: scale_s * dl/df of the sample just seeded
    fmpq qtmp, qacc             # scratch
    fmpz g, tmp, q, r
    Factored fac                # dense engine: how gcds with denominators are taken
    Shared shared[2]            # dense engine: the layers it shared, alternately
    slong shares                # dense engine: layers shared so far (slot: shares & 1)
    Columns columns             # dense engine: this worker's layer values
    slong barriers              # barriers passed (Pass.barrier)


cdef class Pass


cdef class Kernel:
    # How a pass runs: ``work`` runs one worker's samples. A kernel whose gradient rows are
    # set once from all samples marks them (edge_set_once, vertex_set_once: NULL for none,
    # all for a dense stack) so that only the others are summed over workers.
    cdef bint rows_only                 # every gradient is set once: one region
    cdef char *edge_set_once
    cdef char *vertex_set_once
    cdef void prepare(self, Pass run) except *
    cdef int work(self, Pass run, Worker *w) noexcept nogil


cdef class Pass:
    cdef readonly Plan plan
    cdef readonly Kernel kernel
    cdef readonly slong S
    cdef readonly int threads
    cdef readonly bint backward     # compute loss and gradients
    cdef readonly bint keep_all     # keep every z and f (else free what nothing reads again)
    cdef readonly bint has_labels
    cdef readonly slong max_bits    # 0: no guard
    cdef int loss_code
    cdef fmpz loss_index, loss_shift     # the bit loss's k and s: integers of any size
    cdef fmpq *X                    # S * n_inputs
    cdef fmpq *Y                    # S * n_outputs
    cdef fmpq *scale                # S: weight_s (/ total weight for mean)
    cdef fmpq *outputs              # S * n_outputs
    cdef slong regions              # gradient accumulators: threads, or 1 (rows_only)
    cdef fmpq *grad_w               # regions * n_edges
    cdef fmpq *grad_z               # regions * n: sum over samples of dL/dz_p
    cdef long *grad_bits            # per reduce share: most bits of its dL/dw and dL/db
    cdef Worker *workers
    cdef public int stop
    cdef public bint canonical_gradients   # False: dense gradient rows stay over their
                                           # common denominator (see gradient_sums)
    cdef PrimeBase primes           # the base the workers take gcds over (use_primes)
    # Barriers of the backward sweep, where kernels set gradient rows once from every
    # worker's samples (dense and sparse blocks): every worker passes them in one order.
    cdef int arrived                # arrivals at barriers (atomic)
    cdef int left                   # workers done with what others read of theirs (atomic)
    cdef int failed                 # a worker ended early: nobody waits for it (atomic)

    cdef void use_primes(self, PrimeBase network) except *
    cdef bint barrier(self, Worker *w) noexcept nogil
    cdef void leave(self, Worker *w, int result) noexcept nogil

    cdef int guard(self, Worker *w, slong p, slong s, slong step, int what,
                   const fmpq *value, long *record) noexcept nogil
    cdef int mark_fault(self, Worker *w, slong p, slong s, slong step, int what,
                        long bits) noexcept nogil
    cdef int over(self, Worker *w, slong p, slong s, slong step, int what,
                  long bits) noexcept nogil
    cdef void sample_loss(self, Worker *w, slong s) noexcept nogil
    cdef void _loss_entry(self, Worker *w, slong s, const fmpq *f, const fmpq *y,
                          fmpq *seed) noexcept nogil


cdef PrimeBase plan_primes(const PlanData *plan)
