# cython: language_level=3
from bitprop._flint cimport fmpq, fmpz, slong
from bitprop._plan cimport Plan
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC


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

# Which value hit the bit limit.
cdef enum:
    WHAT_Z = 0
    WHAT_F = 1
    WHAT_ADJOINT = 2


cdef class Pass:
    cdef Plan plan
    cdef readonly slong S
    cdef readonly int threads
    cdef readonly bint backward     # compute loss and gradients
    cdef readonly bint keep_all     # keep every z and f (else free what nothing reads again)
    cdef readonly bint has_labels
    cdef readonly slong max_bits    # 0: no guard
    cdef int loss_code
    cdef slong loss_index, loss_shift
    cdef fmpq *X                    # S * n_inputs
    cdef fmpq *Y                    # S * n_outputs
    cdef fmpq *scale                # S: weight_s (/ total weight for mean)
    cdef slong n_values             # entries of Z, F (and GF): n * S, or 0 for DensePass
    cdef fmpq *Z
    cdef fmpq *F
    cdef fmpq *GF
    cdef fmpq *outputs              # S * n_outputs, copied before backward frees them
    cdef slong regions              # gradient accumulators: threads, or 1 without scalar values
    cdef fmpq *grad_w               # regions * n_edges
    cdef fmpq *grad_z               # regions * n: sum over samples of dL/dz_p
    cdef fmpq *loss                 # threads
    cdef long *bits_z
    cdef long *bits_f
    cdef long *bits_adj             # threads * n each: max over the thread's samples
    cdef slong *done                # threads: vertex steps finished (progress)
    cdef int *status                # threads
    cdef slong *fault_pos           # threads: where each worker first exceeded max_bits,
    cdef int *fault_what            # ... which value,
    cdef long *fault_bits           # ... by how much,
    cdef slong *fault_step          # ... and when: the step of the one-thread sweep order
    cdef slong *fault_sample        # and the sample, so the reported fault is the same for
                                    # every thread count (the first in that order)
    cdef double *t_start
    cdef double *t_forward
    cdef double *t_end
    cdef public int stop
    cdef slong step_scale           # fault steps of vertex p: p and 2n - 1 - p, times this

    cdef int _work(self, int t) noexcept nogil
    cdef int _guard(self, int t, slong p, slong s, slong step, int what, const fmpq *value,
                    long *record) noexcept nogil
    cdef int _fault(self, int t, slong p, slong s, slong step, int what, long bits) noexcept nogil
    cdef void _loss_entry(self, int t, slong s, const fmpq *f, const fmpq *y, fmpq *acc,
                          fmpq *gf, fmpq *tmp, fmpz *q, fmpz *r) noexcept nogil
    cdef int _forward_vertex(self, int t, slong p, slong s0, slong s1, fmpz *q,
                             fmpz *r) noexcept nogil
    cdef void _forget(self, slong p, slong s) noexcept nogil
    cdef void _reduce(self, const char *skip_edge, const char *skip_vertex) noexcept
    cdef void _keep_outputs(self, slong s0, slong s1) noexcept nogil
    cdef void _seed_loss(self, int t, slong s0, slong s1, fmpq *tmp, fmpq *acc,
                         fmpz *q, fmpz *r) noexcept nogil
    cdef int _backward_vertex(self, int t, slong p, slong s0, slong s1, fmpq *gz, fmpq *d,
                              fmpz *q, fmpz *r) noexcept nogil
