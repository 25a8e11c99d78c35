# cython: language_level=3, cdivision=True
"""Dense layers as integer matrix products: the fraction-free form of forward and backward.

A layer's values are kept as an integer matrix with one positive denominator per sample
column (samples are columns), normalised by one gcd over the column instead of one gcd per
entry. Weights are scaled once to integers over one denominator per layer (W = Wn / D_l,
bias sums b = bn / D_l), so

    Z_l = (Wn_l H_(l-1) + bn_l hd_(l-1)^T) / (D_l hd_(l-1))        (fmpz_mat_mul)
    dL/dH_(l-1) = Wn_l^T G_l / (D_l gd)                               (fmpz_mat_mul)
    dL/dW_l = sum_s G_l[:, s] H_(l-1)[:, s]^T                         (one fmpz_mat_mul over
              a common denominator of the samples)

Canonical fmpq values appear only where they leave the kernel: outputs, loss, gradients.
Bit statistics and the max_bits guard still see every entry's canonical size. Every gcd is
taken against a denominator whose small prime factors are known (bitprop._factored).

Threads: forward and the adjoints G_l run per slice of the samples; dL/dW_l and dL/db_l sum
over all samples, so after each layer's barrier every worker computes a block of their rows
from every worker's columns (_gradient_rows): one canonical value per entry, no reduction.
"""

from libc.stdlib cimport calloc, free
from posix.unistd cimport usleep

from bitprop._flint cimport *
from bitprop._plan cimport Plan, PlanData
from bitprop._kernels cimport (Pass, DONE, STOPPED, BIT_LIMIT, WHAT_Z, WHAT_F, WHAT_ADJOINT,
                               monotonic_now)
from bitprop._convert cimport fmpq_set_fraction, fmpq_bit_length
from bitprop._factored cimport (Factored, factored_init, factored_clear, factor,
                               factored_set_primes, small_primes, exponent, valuation,
                               mul_prime_power, canonical_bits, set_canonical,
                               divide_exact)

# Dense activation codes (layers.py).
cdef enum:
    D_IDENTITY = 0
    D_RELU = 1
    D_LEAKY = 2
    D_MONO = 4

# How a layer's values f relate to its pre-activations z, for bit statistics.
cdef enum:
    F_OWN = 0          # f has sizes of its own: record them
    F_SAME = 1         # identity: f = z
    F_RELU = 2         # relu: f = z where z > 0, else 0 (1 bit)


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


cdef struct Shared:
    # What a worker shares of layer l (its own samples as columns) while every worker
    # computes its rows of dL/dW_l and dL/db_l from all samples.
    bint live
    slong cols
    fmpz_mat_struct G           # dL/dz_l, integers over gd
    fmpz *gd
    fmpz_mat_struct HT          # H_(l-1)^T
    fmpz *scaled                # gd * hd_(l-1): each column's denominator in G H^T
    fmpz lcm_scaled
    fmpz lcm_gd


cdef void _share(Shared *x, fmpz_mat_struct *G, fmpz *gd, fmpz_mat_struct *H, const fmpz *hd,
                 slong cols) noexcept nogil:
    """Hand G and gd over to x (the caller re-initialises both before reuse) and move
    H (not read again by its owner) into x.HT, transposed."""
    cdef slong i, s
    x.G, x.gd, x.cols = G[0], gd, cols
    fmpz_mat_init(&x.HT, cols, H.r)
    for i in range(H.r):
        for s in range(cols):
            fmpz_swap(_at(&x.HT, s, i), _at(H, i, s))
    x.scaled = _fmpz_vec_init(cols + 1)
    for s in range(cols):
        fmpz_mul(x.scaled + s, gd + s, hd + s)
    fmpz_init(&x.lcm_scaled)
    fmpz_init(&x.lcm_gd)
    _column_lcm(&x.lcm_scaled, x.scaled, cols)
    _column_lcm(&x.lcm_gd, gd, cols)
    x.live = True


cdef void _release(Shared *x) noexcept nogil:
    if x.live:
        fmpz_mat_clear(&x.G)
        fmpz_mat_clear(&x.HT)
        _fmpz_vec_clear(x.gd, x.cols + 1)
        _fmpz_vec_clear(x.scaled, x.cols + 1)
        fmpz_clear(&x.lcm_scaled)
        fmpz_clear(&x.lcm_gd)
        x.live = False


cdef inline fmpz *_at(fmpz_mat_struct *m, slong i, slong j) noexcept nogil:
    return m.rows[i] + j


cdef void _normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
                     fmpz *tmp) noexcept nogil:
    """Divide every column and its denominator by their gcd: the column's canonical form."""
    cdef slong i, s
    for s in range(m.c):
        if f.exact:
            factor(f, den + s)
        _column_content(g, m, s, den + s, f, tmp)
        if not fmpz_is_one(g):
            divide_exact(den + s, den + s, g)
            for i in range(m.r):
                divide_exact(_at(m, i, s), _at(m, i, s), g)


cdef void _column_content(fmpz *g, fmpz_mat_struct *m, slong s, const fmpz *den,
                          const Factored *f, fmpz *tmp) noexcept nogil:
    """g := gcd of column s and its denominator (factored as f): per small prime of the
    denominator the least valuation over the column, which one entry usually settles."""
    cdef slong i
    cdef int k
    cdef ulong v
    cdef fmpz_t rough
    fmpz_one(g)
    for k in range(f.count):
        v = f.exp[k] if f.exact else <ulong>-1
        for i in range(m.r):
            if v == 0:
                break
            if not fmpz_is_zero(_at(m, i, s)):
                v = valuation(_at(m, i, s), f.prime[k], v, tmp)
        v = exponent(f, k, den, v, tmp)
        if v:
            mul_prime_power(g, f.prime[k], v, tmp)
    if not fmpz_is_one(&f.rough):
        fmpz_init(rough)
        fmpz_set(rough, &f.rough)
        for i in range(m.r):
            if fmpz_is_one(rough):
                break
            fmpz_gcd(rough, rough, _at(m, i, s))
        fmpz_mul(g, g, rough)
        fmpz_clear(rough)


cdef void _column_lcm(fmpz *out, const fmpz *dens, slong n) noexcept nogil:
    cdef slong s
    fmpz_one(out)
    for s in range(n):
        fmpz_lcm(out, out, dens + s)


cdef class DenseWeights:
    """A dense network's parameters as integer matrices: W_l = Wn_l / D_l and the bias sums
    b_l = bn_l / D_l, D_l the lcm of layer l's denominators. Built once per compiled network
    and shared by its passes (only step's private plans change their parameters, and they
    build their own)."""

    cdef slong L
    cdef fmpz_mat_struct *Wn         # index l - 1
    cdef fmpz_mat_struct *WnT
    cdef fmpz *bn                    # layer l's bias sums at bn_off[l]
    cdef slong *bn_off
    cdef slong bn_len
    cdef fmpz *D                     # index l

    def __cinit__(self, widths):
        cdef slong l
        self.L = len(widths) - 1
        self.bn_len = sum(widths) + 1
        self.Wn = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        self.WnT = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        self.bn_off = <slong *>calloc(self.L + 2, sizeof(slong))
        if self.Wn == NULL or self.WnT == NULL or self.bn_off == NULL:
            raise MemoryError()
        self.bn = _fmpz_vec_init(self.bn_len)
        self.D = _fmpz_vec_init(self.L + 1)
        for l in range(1, self.L + 1):
            fmpz_mat_init(self.Wn + l - 1, widths[l], widths[l - 1])
            fmpz_mat_init(self.WnT + l - 1, widths[l - 1], widths[l])

    def __dealloc__(self):
        cdef slong l
        if self.D != NULL:
            for l in range(1, self.L + 1):
                fmpz_mat_clear(self.Wn + l - 1)
                fmpz_mat_clear(self.WnT + l - 1)
            _fmpz_vec_clear(self.bn, self.bn_len)
            _fmpz_vec_clear(self.D, self.L + 1)
        free(self.Wn); free(self.WnT); free(self.bn_off)


cdef class DensePass(Pass):
    """A Pass over a network that is a stack of dense layers (see bitprop.layers)."""

    cdef slong L                     # weight layers
    cdef slong *width                # L + 1
    cdef slong *pos_off              # L + 2: layer l's positions are pos[pos_off[l]:pos_off[l+1]]
    cdef slong *pos
    cdef slong *edge_off             # L + 1: layer l's edge ids start at edge_off[l]
    cdef slong *edge_id
    cdef int *code                   # per layer l >= 1
    cdef slong *degree               # monomial degree
    cdef fmpz *act_p                 # leaky slope p/q, or monomial coefficient p/q
    cdef fmpz *act_q
    cdef readonly DenseWeights weights
    cdef slong *out_row              # per output coordinate
    cdef Factored *fac               # per worker: scratch for factored denominators
    cdef int n_fac
    # Backward: worker t shares layer l in slot (l % 2) * threads + t; after a barrier every
    # worker computes its rows of layer l's gradients from all samples. Two slots per worker:
    # a slot is rewritten two layers later, when every worker has passed one more barrier.
    cdef Shared *shared
    cdef int arrived                 # arrivals at the layer barriers (atomic)
    cdef int left                    # workers done with shared memory (atomic)
    cdef int failed                  # a worker stopped early: nobody waits for it (atomic)
    cdef long *grad_bits             # per worker: max bits of the dL/dw, dL/db it set

    def __init__(self, Plan plan, inputs, labels=None, scales=None, loss=None, *, layout,
                 weights=None, **options):
        """``weights``: the DenseWeights of an earlier pass over the same plan and layout."""
        Pass.__init__(self, plan, inputs, labels, scales, loss)
        self._build(layout, weights)

    def _build(self, layout, weights):
        cdef slong l, i, j, k, e, n_in, n_out
        cdef PlanData *plan = &self.plan.d
        widths = layout.widths
        self.L = len(widths) - 1
        self.width = <slong *>calloc(self.L + 1, sizeof(slong))
        self.pos_off = <slong *>calloc(self.L + 2, sizeof(slong))
        self.pos = <slong *>calloc(sum(widths) + 1, sizeof(slong))
        self.edge_off = <slong *>calloc(self.L + 2, sizeof(slong))
        self.edge_id = <slong *>calloc(plan.n_edges + 1, sizeof(slong))
        self.code = <int *>calloc(self.L + 1, sizeof(int))
        self.degree = <slong *>calloc(self.L + 1, sizeof(slong))
        self.out_row = <slong *>calloc(plan.n_outputs + 1, sizeof(slong))
        self.act_p = _fmpz_vec_init(self.L + 1)
        self.act_q = _fmpz_vec_init(self.L + 1)
        self.fac = <Factored *>calloc(self.threads, sizeof(Factored))
        if self.fac == NULL:
            raise MemoryError()
        for i in range(self.threads):
            factored_init(self.fac + i)
        self.n_fac = self.threads
        self.shared = <Shared *>calloc(2 * self.threads, sizeof(Shared))
        self.grad_bits = <long *>calloc(2 * self.threads, sizeof(long))
        if self.shared == NULL or self.grad_bits == NULL:
            raise MemoryError()
        if (self.width == NULL or self.pos_off == NULL or self.pos == NULL or
                self.edge_off == NULL or self.edge_id == NULL or self.code == NULL or
                self.degree == NULL or self.out_row == NULL):
            raise MemoryError()
        k = 0
        for l, layer in enumerate(layout.layers):
            self.width[l] = len(layer)
            self.pos_off[l] = k
            for p in layer:
                self.pos[k] = p
                k += 1
        self.pos_off[self.L + 1] = k
        cdef const long long[::1] flat = layout.flat_edge_ids
        for k in range(flat.shape[0]):
            self.edge_id[k] = flat[k]
        k = 0
        for l in range(1, self.L + 1):
            self.edge_off[l] = k
            k += len(layout.edge_ids[l - 1])
            code, activation = layout.activations[l - 1]
            self.code[l] = code
            if code == D_LEAKY:
                fmpq_to_pair(self.act_p + l, self.act_q + l, activation.slope)
            elif code == D_MONO:
                self.degree[l] = len(activation.coefficients) - 1
                fmpq_to_pair(self.act_p + l, self.act_q + l, activation.coefficients[-1])
        for o, row in enumerate(layout.output_rows):
            self.out_row[o] = row
        if weights is None:
            self.weights = DenseWeights(widths)
            self._scale_weights()
        else:
            self.weights = weights
        self._choose_factoring()

    cdef void _scale_weights(self) noexcept:
        """Fill self.weights from the plan's parameters."""
        cdef DenseWeights dw = self.weights
        cdef PlanData *plan = &self.plan.d
        cdef slong l, i, j, e, n_in, n_out, off = 0
        cdef fmpz_t factor
        cdef const fmpq *w
        fmpz_init(factor)
        for l in range(1, self.L + 1):
            n_out, n_in = self.width[l], self.width[l - 1]
            dw.bn_off[l] = off
            fmpz_one(dw.D + l)
            for i in range(n_out):
                w = plan.bias_sum + self.pos[self.pos_off[l] + i]
                fmpz_lcm(dw.D + l, dw.D + l, fmpq_denref(w))
                for j in range(n_in):
                    e = self.edge_id[self.edge_off[l] + i * n_in + j]
                    fmpz_lcm(dw.D + l, dw.D + l, fmpq_denref(plan.weight + e))
            for i in range(n_out):
                w = plan.bias_sum + self.pos[self.pos_off[l] + i]
                fmpz_divexact(factor, dw.D + l, fmpq_denref(w))
                fmpz_mul(dw.bn + off + i, fmpq_numref(w), factor)
                for j in range(n_in):
                    w = plan.weight + self.edge_id[self.edge_off[l] + i * n_in + j]
                    fmpz_divexact(factor, dw.D + l, fmpq_denref(w))
                    fmpz_mul(_at(dw.Wn + l - 1, i, j), fmpq_numref(w), factor)
            fmpz_mat_transpose(dw.WnT + l - 1, dw.Wn + l - 1)
            off += n_out
        fmpz_clear(factor)

    def __dealloc__(self):
        cdef slong l
        if self.act_p != NULL:
            _fmpz_vec_clear(self.act_p, self.L + 1)
            _fmpz_vec_clear(self.act_q, self.L + 1)
        for l in range(self.n_fac):
            factored_clear(self.fac + l)
        free(self.fac)
        if self.shared != NULL:
            for l in range(2 * self.n_fac):
                _release(self.shared + l)
        free(self.shared)
        free(self.grad_bits)
        free(self.width); free(self.pos_off); free(self.pos); free(self.edge_off)
        free(self.edge_id); free(self.code); free(self.degree)
        free(self.out_row)

    cdef void _choose_factoring(self) noexcept:
        """Every denominator of the pass divides a product of the layers' D, the activations'
        q and the samples' input, label and scale denominators. When those factor over the
        primes below 64, so does every denominator, and none needs factoring on its own."""
        cdef PlanData *plan = &self.plan.d
        cdef unsigned int mask = 0
        cdef bint smooth = True
        cdef slong i
        cdef int t
        cdef fmpz_t tmp
        fmpz_init(tmp)
        for i in range(1, self.L + 1):
            if not small_primes(self.weights.D + i, &mask, tmp):
                smooth = False
            if not fmpz_is_zero(self.act_q + i) and not small_primes(self.act_q + i, &mask, tmp):
                smooth = False
        for i in range(self.S * plan.n_inputs):
            if not small_primes(fmpq_denref(self.X + i), &mask, tmp):
                smooth = False
        for i in range(self.S * plan.n_outputs if self.has_labels else 0):
            if not small_primes(fmpq_denref(self.Y + i), &mask, tmp):
                smooth = False
        for i in range(self.S):
            if not small_primes(fmpq_denref(self.scale + i), &mask, tmp):
                smooth = False
        fmpz_clear(tmp)
        for t in range(self.threads):
            if smooth:
                factored_set_primes(self.fac + t, mask)
            else:
                self.fac[t].exact = True

    def reduce_gradients(self):
        """Nothing to do: each gradient row was computed once, from all samples."""

    def gradient_bits(self):
        """(max bits of dL/dw, max bits of dL/db), noted as the workers set them."""
        cdef int t
        return (max(self.grad_bits[2 * t] for t in range(self.threads)),
                max(self.grad_bits[2 * t + 1] for t in range(self.threads)))

    # --- the worker --------------------------------------------------------------------------
    cdef int _work(self, int t) noexcept nogil:
        """Forward and backward over this worker's samples (its columns); the gradient rows
        of each layer are shared out between the workers (see _backward)."""
        cdef slong s0 = self.S * t // self.threads, s1 = self.S * (t + 1) // self.threads
        cdef slong cols = s1 - s0, l
        cdef int result = DONE
        # H[l], Z[l]: layer values (columns = this worker's samples); hd, zd: denominators
        cdef fmpz_mat_struct *H = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        cdef fmpz_mat_struct *Z = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        cdef fmpz **hd = <fmpz **>calloc(self.L + 1, sizeof(fmpz *))
        cdef fmpz **zd = <fmpz **>calloc(self.L + 1, sizeof(fmpz *))
        cdef fmpz_t g, tmp
        if H == NULL or Z == NULL or hd == NULL or zd == NULL:
            free(H); free(Z); free(hd); free(zd)
            self._leave(t, STOPPED)
            return STOPPED
        fmpz_init(g); fmpz_init(tmp)
        for l in range(self.L + 1):
            fmpz_mat_init(H + l, self.width[l], cols)
            fmpz_mat_init(Z + l, self.width[l] if l else 0, cols)
            hd[l] = _fmpz_vec_init(cols + 1)
            zd[l] = _fmpz_vec_init(cols + 1)
        self.t_start[t] = monotonic_now()
        result = self._forward(t, s0, cols, H, Z, hd, zd, g, tmp)
        self.t_forward[t] = monotonic_now()
        if result == DONE:
            result = self._outputs_and_loss(t, s0, cols, H + self.L, hd[self.L], H, Z, hd, zd,
                                            g, tmp)
        self.t_end[t] = monotonic_now()
        self._leave(t, result)
        for l in range(self.L + 1):
            fmpz_mat_clear(H + l)
            fmpz_mat_clear(Z + l)
            _fmpz_vec_clear(hd[l], cols + 1)
            _fmpz_vec_clear(zd[l], cols + 1)
        free(H); free(Z); free(hd); free(zd)
        fmpz_clear(g); fmpz_clear(tmp)
        return result

    cdef bint _barrier(self, int count) noexcept nogil:
        """Arrive at the count-th layer barrier and wait for every worker; False when a
        worker left early or a stop was asked for (then nobody else will arrive)."""
        bitprop_add(&self.arrived)
        return _wait(&self.arrived, count * self.threads, &self.failed, &self.stop)

    cdef void _leave(self, int t, int result) noexcept nogil:
        """Worker t is done with the backward sweep: wait until every worker is (another may
        still read t's shared layer), then free t's shared slots."""
        if not self.backward:
            return
        if result != DONE:
            bitprop_add(&self.failed)
        bitprop_add(&self.left)
        _wait(&self.left, self.threads, NULL, NULL)   # every worker gets here: sweeps end
        _release(self.shared + t)
        _release(self.shared + self.threads + t)

    cdef int _record(self, int t, slong l, slong step, fmpz_mat_struct *m, const fmpz *den,
                     int what, long *bits, int f_rule, long *f_bits, fmpz *g,
                     fmpz *tmp) noexcept nogil:
        """Bit statistics (canonical sizes) of layer l's matrix; BIT_LIMIT over max_bits.
        ``f_rule`` F_SAME or F_RELU also records into ``f_bits`` the sizes of f = sigma(z),
        read off z's (neither makes an entry longer, so z's guard covers f). ``step``
        numbers the records of a sweep (the same for every worker) for the bit-limit fault."""
        cdef slong i, s, p
        cdef long b, bf
        cdef Factored *f = self.fac + t
        for s in range(m.c):
            if f.exact:
                factor(f, den + s)
            for i in range(m.r):
                p = self.pos[self.pos_off[l] + i]
                b = canonical_bits(_at(m, i, s), den + s, f, g, tmp)
                if b > bits[p]:
                    bits[p] = b
                if f_rule != F_OWN:
                    bf = 1 if f_rule == F_RELU and fmpz_sgn(_at(m, i, s)) <= 0 else b
                    if bf > f_bits[p]:
                        f_bits[p] = bf
                if self.max_bits and b > self.max_bits:
                    return self._fault(t, p, self.S * t // self.threads + s, step, what, b)
        return DONE

    cdef int _forward(self, int t, slong s0, slong cols, fmpz_mat_struct *H,
                      fmpz_mat_struct *Z, fmpz **hd, fmpz **zd, fmpz *g, fmpz *tmp) noexcept nogil:
        cdef slong l, i, j, s, n = self.plan.d.n, n_in = self.plan.d.n_inputs
        cdef const fmpq *x
        cdef int f_rule
        # layer 0: the inputs over one denominator per sample
        for s in range(cols):
            _column_lcm(hd[0] + s, NULL, 0)
            for j in range(self.width[0]):
                fmpz_lcm(hd[0] + s, hd[0] + s, fmpq_denref(self.X + (s0 + s) * n_in + j))
            for j in range(self.width[0]):
                x = self.X + (s0 + s) * n_in + j
                fmpz_divexact(tmp, hd[0] + s, fmpq_denref(x))
                fmpz_mul(_at(H, j, s), fmpq_numref(x), tmp)
        if self._record(t, 0, 0, H, hd[0], WHAT_F, self.bits_f + t * n, F_OWN, NULL, g,
                        tmp):
            return BIT_LIMIT
        self.done[t] += self.width[0]
        for l in range(1, self.L + 1):
            if self.stop:
                return STOPPED
            fmpz_mat_mul(Z + l, self.weights.Wn + l - 1, H + l - 1)
            for s in range(cols):
                fmpz_mul(zd[l] + s, self.weights.D + l, hd[l - 1] + s)
                for i in range(self.width[l]):
                    fmpz_addmul(_at(Z + l, i, s), self.weights.bn + self.weights.bn_off[l] + i,
                                hd[l - 1] + s)
            _normalize(Z + l, zd[l], self.fac + t, g, tmp)
            f_rule = (F_SAME if self.code[l] == D_IDENTITY else
                      F_RELU if self.code[l] == D_RELU else F_OWN)
            if self._record(t, l, 2 * l - 1, Z + l, zd[l], WHAT_Z, self.bits_z + t * n,
                            f_rule, self.bits_f + t * n, g, tmp):
                return BIT_LIMIT
            self._activate(l, Z + l, zd[l], H + l, hd[l])
            if f_rule != F_OWN:         # Z moved into H: free it now
                fmpz_mat_clear(Z + l); fmpz_mat_init(Z + l, 0, 0)
            _normalize(H + l, hd[l], self.fac + t, g, tmp)
            if f_rule == F_OWN and self._record(t, l, 2 * l, H + l, hd[l], WHAT_F,
                                                self.bits_f + t * n, F_OWN, NULL, g, tmp):
                return BIT_LIMIT
            self.done[t] += self.width[l]
        return DONE

    cdef void _activate(self, slong l, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                        fmpz *hd) noexcept nogil:
        """H = sigma(Z / zd) as integers over hd. Identity and ReLU move Z's entries into H
        (Z is not read again: backward takes ReLU's signs from H)."""
        cdef slong i, s
        cdef int code = self.code[l]
        for s in range(z.c):
            if code == D_MONO:           # (p/q) (z/zd)^d = p z^d / (q zd^d)
                fmpz_pow_ui(hd + s, zd + s, self.degree[l])
                fmpz_mul(hd + s, hd + s, self.act_q + l)
            elif code == D_LEAKY:        # z > 0: q z / (q zd); else p z / (q zd)
                fmpz_mul(hd + s, zd + s, self.act_q + l)
            else:
                fmpz_set(hd + s, zd + s)
            for i in range(z.r):
                if code == D_IDENTITY:
                    fmpz_swap(_at(h, i, s), _at(z, i, s))
                elif code == D_RELU:
                    if fmpz_sgn(_at(z, i, s)) > 0:
                        fmpz_swap(_at(h, i, s), _at(z, i, s))
                    else:
                        fmpz_zero(_at(h, i, s))
                elif code == D_LEAKY:
                    fmpz_mul(_at(h, i, s), _at(z, i, s),
                             self.act_q + l if fmpz_sgn(_at(z, i, s)) > 0 else self.act_p + l)
                else:
                    fmpz_pow_ui(_at(h, i, s), _at(z, i, s), self.degree[l])
                    fmpz_mul(_at(h, i, s), _at(h, i, s), self.act_p + l)

    cdef void _derivative(self, slong l, fmpz_mat_struct *z, const fmpz *zd,
                          const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                          fmpz *gd, fmpz *tmp) noexcept nogil:
        """G := G * sigma'(Z / zd) entrywise, in place (integers over gd). ReLU reads the
        sign of z off h = relu(z) (h > 0 exactly where z > 0), kept as H or, once shared,
        as H^T."""
        cdef slong i, s, d = self.degree[l]
        cdef int code = self.code[l]
        for s in range(gm.c):
            if code == D_MONO:           # sigma' = d p z^(d-1) / (q zd^(d-1))
                fmpz_pow_ui(tmp, zd + s, d - 1)
                fmpz_mul(tmp, tmp, self.act_q + l)
                fmpz_mul(gd + s, gd + s, tmp)
            elif code == D_LEAKY:
                fmpz_mul(gd + s, gd + s, self.act_q + l)
            for i in range(gm.r):
                if code == D_RELU:
                    if fmpz_sgn(_at(h, s, i) if h_transposed else _at(h, i, s)) <= 0:
                        fmpz_zero(_at(gm, i, s))
                elif code == D_LEAKY:
                    fmpz_mul(_at(gm, i, s), _at(gm, i, s),
                             self.act_q + l if fmpz_sgn(_at(z, i, s)) > 0 else self.act_p + l)
                elif code == D_MONO and not fmpz_is_zero(_at(gm, i, s)):
                    fmpz_pow_ui(tmp, _at(z, i, s), d - 1)
                    fmpz_mul_si(tmp, tmp, d)
                    fmpz_mul(tmp, tmp, self.act_p + l)
                    fmpz_mul(_at(gm, i, s), _at(gm, i, s), tmp)

    cdef int _outputs_and_loss(self, int t, slong s0, slong cols, fmpz_mat_struct *out,
                               fmpz *outd, fmpz_mat_struct *H, fmpz_mat_struct *Z, fmpz **hd,
                               fmpz **zd, fmpz *g, fmpz *tmp) noexcept nogil:
        """Canonical outputs, the loss, and (backward) the seeds and the reverse sweep."""
        cdef slong s, o, n_out = self.plan.d.n_outputs
        cdef fmpq *gf = _fmpq_vec_init(n_out * cols + 1)
        cdef fmpq_t acc, qtmp
        cdef fmpz_t r
        cdef int result = DONE
        fmpq_init(acc); fmpq_init(qtmp); fmpz_init(r)
        for s in range(cols):
            if self.fac[t].exact:
                factor(self.fac + t, outd + s)
            for o in range(n_out):
                set_canonical(self.outputs + (s0 + s) * n_out + o,
                              _at(out, self.out_row[o], s), outd + s, self.fac + t, g, False)
        if self.has_labels:
            for s in range(cols):
                fmpq_zero(acc)
                for o in range(n_out):
                    self._loss_entry(t, s0 + s, self.outputs + (s0 + s) * n_out + o,
                                     self.Y + (s0 + s) * n_out + o, acc,
                                     gf + o * cols + s if self.backward else NULL, qtmp, g, r)
                fmpq_addmul(self.loss + t, self.scale + s0 + s, acc)
        if self.backward:
            result = self._backward(t, s0, cols, gf, H, Z, hd, zd, g, tmp)
        _fmpq_vec_clear(gf, n_out * cols + 1)
        fmpq_clear(acc); fmpq_clear(qtmp); fmpz_clear(r)
        return result

    cdef int _backward(self, int t, slong s0, slong cols, fmpq *gf, fmpz_mat_struct *H,
                       fmpz_mat_struct *Z, fmpz **hd, fmpz **zd, fmpz *g, fmpz *tmp) noexcept nogil:
        """Reverse sweep. dL/dz_l and dL/df_(l-1) are per sample (this worker's columns);
        dL/dW_l and dL/db_l are sums over all samples, so after each layer's barrier every
        worker computes a block of their rows from everyone's shared columns."""
        cdef slong l, s, o, n = self.plan.d.n, n_out = self.plan.d.n_outputs, count = 0
        cdef fmpz_mat_struct G
        cdef fmpz *gd = _fmpz_vec_init(cols + 1)
        cdef Shared *mine
        cdef int result = DONE
        # dL/df of the last layer over one denominator per sample
        fmpz_mat_init(&G, self.width[self.L], cols)
        for s in range(cols):
            fmpz_one(gd + s)
            for o in range(n_out):
                fmpz_lcm(gd + s, gd + s, fmpq_denref(gf + o * cols + s))
            for o in range(n_out):
                fmpz_divexact(tmp, gd + s, fmpq_denref(gf + o * cols + s))
                fmpz_mul(_at(&G, self.out_row[o], s), fmpq_numref(gf + o * cols + s), tmp)
        for l in range(self.L, 0, -1):
            if self.stop:
                result = STOPPED
                break
            if l == self.L:             # G = dL/dz_l
                self._derivative(l, Z + l, zd[l], H + l, False, &G, gd, tmp)
            else:                       # H_l is shared (transposed) in layer l + 1's slot
                self._derivative(l, Z + l, zd[l],
                                 &self.shared[((l + 1) % 2) * self.threads + t].HT, True,
                                 &G, gd, tmp)
            _normalize(&G, gd, self.fac + t, g, tmp)
            if self._record(t, l, 3 * self.L + 1 - l, &G, gd, WHAT_ADJOINT,
                            self.bits_adj + t * n, F_OWN, NULL, g, tmp):
                result = BIT_LIMIT
                break
            mine = self.shared + (l % 2) * self.threads + t
            _share(mine, &G, gd, H + l - 1, hd[l - 1], cols)      # G and gd now are mine's
            fmpz_mat_init(&G, self.width[l - 1] if l > 1 else 0, cols)
            gd = _fmpz_vec_init(cols + 1)
            count += 1
            if not self._barrier(count):
                result = STOPPED
                break
            _release(self.shared + ((l + 1) % 2) * self.threads + t)   # all have read it
            self._gradient_rows(t, l, g, tmp)
            # dL/df_(l-1) = Wn^T G / (D gd), from the shared copy of this worker's G
            if l > 1:
                fmpz_mat_mul(&G, self.weights.WnT + l - 1, &mine.G)
                for s in range(cols):
                    fmpz_mul(gd + s, mine.gd + s, self.weights.D + l)
                _normalize(&G, gd, self.fac + t, g, tmp)
            fmpz_mat_clear(Z + l); fmpz_mat_init(Z + l, 0, 0)   # not read again
            self.done[t] += self.width[l]
        fmpz_mat_clear(&G)
        _fmpz_vec_clear(gd, cols + 1)
        if result == DONE:
            self.done[t] += self.width[0]
        return result

    cdef void _gradient_rows(self, int t, slong l, fmpz *g, fmpz *tmp) noexcept nogil:
        """Worker t's block of rows of dL/dW_l and dL/db_l, from every worker's shared layer:
        one product per worker's columns, all over one common denominator, each entry then
        set in canonical form once (into the slots gradients() reads)."""
        cdef Shared *part = self.shared + (l % 2) * self.threads
        cdef slong n_l = self.width[l], n_in = self.width[l - 1], i, j, s
        cdef slong r0 = n_l * t // self.threads, rows = n_l * (t + 1) // self.threads - r0
        cdef int u
        cdef fmpz_mat_struct M, A, P
        cdef fmpq *q
        cdef fmpz_t den, scale
        cdef Factored *f = self.fac + t
        if rows == 0:
            return
        fmpz_init(den); fmpz_init(scale)
        # dL/dW rows: sum over workers u of (G_u's rows over den) H_u^T
        fmpz_one(den)
        for u in range(self.threads):
            fmpz_lcm(den, den, &part[u].lcm_scaled)
        fmpz_mat_init(&M, rows, n_in)
        for u in range(self.threads):
            fmpz_mat_init(&A, rows, part[u].cols)
            for s in range(part[u].cols):
                divide_exact(scale, den, part[u].scaled + s)
                for i in range(rows):
                    fmpz_mul(_at(&A, i, s), _at(&part[u].G, r0 + i, s), scale)
            if u == 0:
                fmpz_mat_mul(&M, &A, &part[u].HT)
            else:
                fmpz_mat_init(&P, rows, n_in)
                fmpz_mat_mul(&P, &A, &part[u].HT)
                fmpz_mat_add(&M, &M, &P)
                fmpz_mat_clear(&P)
            fmpz_mat_clear(&A)
        if f.exact:
            factor(f, den)
        for i in range(rows):
            for j in range(n_in):
                q = self.grad_w + self.edge_id[self.edge_off[l] + (r0 + i) * n_in + j]
                set_canonical(q, _at(&M, i, j), den, f, g, True)
                self.grad_bits[2 * t] = max(self.grad_bits[2 * t], fmpq_bit_length(q))
        fmpz_mat_clear(&M)
        # dL/db rows: sum over all samples of G[i, s] / gd[s]
        fmpz_one(den)
        for u in range(self.threads):
            fmpz_lcm(den, den, &part[u].lcm_gd)
        if f.exact:
            factor(f, den)
        for i in range(rows):
            fmpz_zero(tmp)
            for u in range(self.threads):
                for s in range(part[u].cols):
                    if not fmpz_is_zero(_at(&part[u].G, r0 + i, s)):
                        divide_exact(scale, den, part[u].gd + s)
                        fmpz_addmul(tmp, _at(&part[u].G, r0 + i, s), scale)
            q = self.grad_z + self.pos[self.pos_off[l] + r0 + i]
            set_canonical(q, tmp, den, f, g, True)
            self.grad_bits[2 * t + 1] = max(self.grad_bits[2 * t + 1], fmpq_bit_length(q))
        fmpz_clear(den); fmpz_clear(scale)


cdef void fmpq_to_pair(fmpz *p, fmpz *q, value) except *:
    """p, q := numerator and denominator of a Fraction."""
    cdef fmpq_t tmp
    fmpq_init(tmp)
    fmpq_set_fraction(tmp, value)
    fmpz_set(p, fmpq_numref(tmp))
    fmpz_set(q, fmpq_denref(tmp))
    fmpq_clear(tmp)
