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


cdef void share(Shared *x, fmpz_mat_struct *G, fmpz *gd, fmpz_mat_struct *H, const fmpz *hd,
                slong cols) noexcept nogil:
    """Hand G and gd over to x (the caller re-initialises both before reuse) and move
    H (not read again by its owner) into x.HT, transposed."""
    cdef slong i, s
    x.G, x.gd, x.cols = G[0], gd, cols
    fmpz_mat_init(&x.HT, cols, H.r)
    for i in range(H.r):
        for s in range(cols):
            fmpz_swap(at(&x.HT, s, i), at(H, i, s))
    x.scaled = _fmpz_vec_init(cols + 1)
    for s in range(cols):
        fmpz_mul(x.scaled + s, gd + s, hd + s)
    fmpz_init(&x.lcm_scaled)
    fmpz_init(&x.lcm_gd)
    _column_lcm(&x.lcm_scaled, x.scaled, cols)
    _column_lcm(&x.lcm_gd, gd, cols)
    x.live = True


cdef void release(Shared *x) noexcept nogil:
    if x.live:
        fmpz_mat_clear(&x.G)
        fmpz_mat_clear(&x.HT)
        _fmpz_vec_clear(x.gd, x.cols + 1)
        _fmpz_vec_clear(x.scaled, x.cols + 1)
        fmpz_clear(&x.lcm_scaled)
        fmpz_clear(&x.lcm_gd)
        x.live = False


cdef bint columns_init(Columns *c, const slong *width, slong layers, slong cols) noexcept nogil:
    """Empty matrices of every layer (Z of layer 0 has no rows); False without memory."""
    cdef slong l
    c.layers, c.cols = layers, cols
    c.H = <fmpz_mat_struct *>calloc(layers + 1, sizeof(fmpz_mat_struct))
    c.Z = <fmpz_mat_struct *>calloc(layers + 1, sizeof(fmpz_mat_struct))
    c.hd = <fmpz **>calloc(layers + 1, sizeof(fmpz *))
    c.zd = <fmpz **>calloc(layers + 1, sizeof(fmpz *))
    if c.H == NULL or c.Z == NULL or c.hd == NULL or c.zd == NULL:
        free(c.H); free(c.Z); free(c.hd); free(c.zd)
        c.H = NULL
        return False
    for l in range(layers):
        fmpz_mat_init(c.H + l, width[l], cols)
        fmpz_mat_init(c.Z + l, width[l] if l else 0, cols)
        c.hd[l] = _fmpz_vec_init(cols + 1)
        c.zd[l] = _fmpz_vec_init(cols + 1)
    return True


cdef void columns_clear(Columns *c) noexcept nogil:
    cdef slong l
    if c.H == NULL:
        return
    for l in range(c.layers):
        fmpz_mat_clear(c.H + l)
        fmpz_mat_clear(c.Z + l)
        _fmpz_vec_clear(c.hd[l], c.cols + 1)
        _fmpz_vec_clear(c.zd[l], c.cols + 1)
    free(c.H); free(c.Z); free(c.hd); free(c.zd)
    c.H = NULL


cdef void load_columns(fmpz_mat_struct *m, fmpz *den, const fmpq *base, const slong *rows,
                       slong row_stride, slong col_stride, fmpz *tmp) noexcept nogil:
    """m, den := the rationals base[rows[i] * row_stride + s * col_stride] (rows NULL: i) as
    integers over one denominator per column (the lcm of the column's)."""
    cdef slong i, s
    cdef const fmpq *x
    for s in range(m.c):
        fmpz_one(den + s)
        for i in range(m.r):
            x = base + (rows[i] if rows != NULL else i) * row_stride + s * col_stride
            if not fmpz_is_one(fmpq_denref(x)):
                fmpz_lcm(den + s, den + s, fmpq_denref(x))
        for i in range(m.r):
            x = base + (rows[i] if rows != NULL else i) * row_stride + s * col_stride
            if fmpz_is_one(fmpq_denref(x)):
                fmpz_mul(at(m, i, s), fmpq_numref(x), den + s)
            else:
                fmpz_divexact(tmp, den + s, fmpq_denref(x))
                fmpz_mul(at(m, i, s), fmpq_numref(x), tmp)


cdef void normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
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
                divide_exact(at(m, i, s), at(m, i, s), g)


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
            if not fmpz_is_zero(at(m, i, s)):
                v = valuation(at(m, i, s), f.prime[k], v, tmp)
        v = exponent(f, k, den, v, tmp)
        if v:
            mul_prime_power(g, f.prime[k], v, tmp)
    if not fmpz_is_one(&f.rough):
        fmpz_init(rough)
        fmpz_set(rough, &f.rough)
        for i in range(m.r):
            if fmpz_is_one(rough):
                break
            fmpz_gcd(rough, rough, at(m, i, s))
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
    build their own). A block's input layer (in ``starts``) has no weights: 0 x 0, D = 1."""

    def __cinit__(self, widths, starts=(0,)):
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
            fmpz_one(self.D + l)
            if l in starts:
                fmpz_mat_init(self.Wn + l - 1, 0, 0)
                fmpz_mat_init(self.WnT + l - 1, 0, 0)
            else:
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
        self.edge_id = <slong *>calloc(len(layout.flat_edge_ids) + 1, sizeof(slong))
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
        self.code[0] = D_NONE
        for l in range(1, self.L + 1):
            self.edge_off[l] = k
            k += len(layout.edge_ids[l - 1])
            if layout.activations[l - 1] is None:       # a block's input layer
                self.code[l] = D_NONE
                continue
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
            self.weights = DenseWeights(widths, layout.starts)
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
            off += n_out
            if self.code[l] == D_NONE:
                continue
            fmpz_one(dw.D + l)
            for i in range(n_out):
                w = plan.bias_sum + self.pos[self.pos_off[l] + i]
                fmpz_lcm(dw.D + l, dw.D + l, fmpq_denref(w))
                for j in range(n_in):
                    e = self.edge_id[self.edge_off[l] + i * n_in + j]
                    if e >= 0:          # (-1: no such edge in a block's layer, weight 0)
                        fmpz_lcm(dw.D + l, dw.D + l, fmpq_denref(plan.weight + e))
            for i in range(n_out):
                w = plan.bias_sum + self.pos[self.pos_off[l] + i]
                fmpz_divexact(factor, dw.D + l, fmpq_denref(w))
                fmpz_mul(dw.bn + dw.bn_off[l] + i, fmpq_numref(w), factor)
                for j in range(n_in):
                    e = self.edge_id[self.edge_off[l] + i * n_in + j]
                    if e < 0:
                        continue
                    w = plan.weight + e
                    fmpz_divexact(factor, dw.D + l, fmpq_denref(w))
                    fmpz_mul(at(dw.Wn + l - 1, i, j), fmpq_numref(w), factor)
            fmpz_mat_transpose(dw.WnT + l - 1, dw.Wn + l - 1)
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
                release(self.shared + l)
        free(self.shared)
        free(self.grad_bits)
        free(self.width); free(self.pos_off); free(self.pos); free(self.edge_off)
        free(self.edge_id); free(self.code); free(self.degree)
        free(self.out_row)

    cdef bint _smooth(self, unsigned int *mask, fmpz *tmp) noexcept:
        """Whether every denominator of the pass is a product of primes below 64, which are
        then noted in mask. In a dense stack every denominator divides a product of the
        layers' D, the activations' q and the samples' input, label and scale denominators."""
        cdef PlanData *plan = &self.plan.d
        cdef bint smooth = True
        cdef slong i
        for i in range(1, self.L + 1):
            if not small_primes(self.weights.D + i, mask, tmp):
                smooth = False
            if not fmpz_is_zero(self.act_q + i) and not small_primes(self.act_q + i, mask, tmp):
                smooth = False
        for i in range(self.S * plan.n_inputs):
            if not small_primes(fmpq_denref(self.X + i), mask, tmp):
                smooth = False
        for i in range(self.S * plan.n_outputs if self.has_labels else 0):
            if not small_primes(fmpq_denref(self.Y + i), mask, tmp):
                smooth = False
        for i in range(self.S):
            if not small_primes(fmpq_denref(self.scale + i), mask, tmp):
                smooth = False
        return smooth

    cdef void _choose_factoring(self) noexcept:
        """Smooth denominators need no factoring on their own: the primes are known."""
        cdef unsigned int mask = 0
        cdef bint smooth
        cdef int t
        cdef fmpz_t tmp
        fmpz_init(tmp)
        smooth = self._smooth(&mask, tmp)
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
        cdef int result = DONE
        cdef Columns c
        cdef fmpz_t g, tmp
        if not columns_init(&c, self.width, self.L + 1, s1 - s0):
            self._leave(t, STOPPED)
            return STOPPED
        fmpz_init(g); fmpz_init(tmp)
        self.t_start[t] = monotonic_now()
        result = self._forward(t, s0, &c, g, tmp)
        self.t_forward[t] = monotonic_now()
        if result == DONE:
            result = self._outputs_and_loss(t, s0, &c, g, tmp)
        self.t_end[t] = monotonic_now()
        self._leave(t, result)
        columns_clear(&c)
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
        release(self.shared + t)
        release(self.shared + self.threads + t)

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
                b = canonical_bits(at(m, i, s), den + s, f, g, tmp)
                if b > bits[p]:
                    bits[p] = b
                if f_rule != F_OWN:
                    bf = 1 if f_rule == F_RELU and fmpz_sgn(at(m, i, s)) <= 0 else b
                    if bf > f_bits[p]:
                        f_bits[p] = bf
                if self.max_bits and b > self.max_bits:
                    return self._fault(t, p, self.S * t // self.threads + s, step, what, b)
        return DONE

    cdef int _forward(self, int t, slong s0, Columns *c, fmpz *g, fmpz *tmp) noexcept nogil:
        cdef slong l, n_in = self.plan.d.n_inputs
        # layer 0: the inputs over one denominator per sample
        load_columns(c.H, c.hd[0], self.X + s0 * n_in, NULL, 1, n_in, tmp)
        if self._record(t, 0, 0, c.H, c.hd[0], WHAT_F, self.bits_f + t * self.plan.d.n,
                        F_OWN, NULL, g, tmp):
            return BIT_LIMIT
        self.done[t] += self.width[0]
        for l in range(1, self.L + 1):
            if self.stop:
                return STOPPED
            if self._forward_layer(t, l, 2 * l - 1, c, g, tmp):
                return BIT_LIMIT
            if not self.backward:       # a forward pass keeps one layer, not all of them
                fmpz_mat_clear(c.H + l - 1); fmpz_mat_init(c.H + l - 1, 0, 0)
                fmpz_mat_clear(c.Z + l); fmpz_mat_init(c.Z + l, 0, 0)
            self.done[t] += self.width[l]
        return DONE

    cdef int _forward_layer(self, int t, slong l, slong step, Columns *c, fmpz *g,
                            fmpz *tmp) noexcept nogil:
        """Layer l's Z and H from H_(l-1), canonical per column, recorded at ``step`` (z) and
        ``step + 1`` (f)."""
        cdef slong i, s, n = self.plan.d.n
        cdef int f_rule = (F_SAME if self.code[l] == D_IDENTITY else
                           F_RELU if self.code[l] == D_RELU else F_OWN)
        cdef fmpz_mat_struct *Z = c.Z + l
        cdef fmpz *zd = c.zd[l]
        cdef fmpz *hd = c.hd[l - 1]
        fmpz_mat_mul(Z, self.weights.Wn + l - 1, c.H + l - 1)
        for s in range(c.cols):
            fmpz_mul(zd + s, self.weights.D + l, hd + s)
            for i in range(self.width[l]):
                fmpz_addmul(at(Z, i, s), self.weights.bn + self.weights.bn_off[l] + i, hd + s)
        normalize(Z, zd, self.fac + t, g, tmp)
        if self._record(t, l, step, Z, zd, WHAT_Z, self.bits_z + t * n, f_rule,
                        self.bits_f + t * n, g, tmp):
            return BIT_LIMIT
        self._activate(l, Z, zd, c.H + l, c.hd[l])
        if f_rule != F_OWN:         # Z moved into H: free it now
            fmpz_mat_clear(Z); fmpz_mat_init(Z, 0, 0)
        normalize(c.H + l, c.hd[l], self.fac + t, g, tmp)
        if f_rule == F_OWN and self._record(t, l, step + 1, c.H + l, c.hd[l], WHAT_F,
                                            self.bits_f + t * n, F_OWN, NULL, g, tmp):
            return BIT_LIMIT
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
                    fmpz_swap(at(h, i, s), at(z, i, s))
                elif code == D_RELU:
                    if fmpz_sgn(at(z, i, s)) > 0:
                        fmpz_swap(at(h, i, s), at(z, i, s))
                    else:
                        fmpz_zero(at(h, i, s))
                elif code == D_LEAKY:
                    fmpz_mul(at(h, i, s), at(z, i, s),
                             self.act_q + l if fmpz_sgn(at(z, i, s)) > 0 else self.act_p + l)
                else:
                    fmpz_pow_ui(at(h, i, s), at(z, i, s), self.degree[l])
                    fmpz_mul(at(h, i, s), at(h, i, s), self.act_p + l)

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
                    if fmpz_sgn(at(<fmpz_mat_struct *>h, s, i) if h_transposed
                                else at(<fmpz_mat_struct *>h, i, s)) <= 0:
                        fmpz_zero(at(gm, i, s))
                elif code == D_LEAKY:
                    fmpz_mul(at(gm, i, s), at(gm, i, s),
                             self.act_q + l if fmpz_sgn(at(z, i, s)) > 0 else self.act_p + l)
                elif code == D_MONO and not fmpz_is_zero(at(gm, i, s)):
                    fmpz_pow_ui(tmp, at(z, i, s), d - 1)
                    fmpz_mul_si(tmp, tmp, d)
                    fmpz_mul(tmp, tmp, self.act_p + l)
                    fmpz_mul(at(gm, i, s), at(gm, i, s), tmp)

    cdef int _adjoint(self, int t, slong l, slong step, Columns *c, const fmpz_mat_struct *h,
                      bint h_transposed, fmpz_mat_struct *G, fmpz *gd, fmpz *g,
                      fmpz *tmp) noexcept nogil:
        """G := dL/dz_l from dL/df_l (in place), canonical per column and recorded."""
        self._derivative(l, c.Z + l, c.zd[l], h, h_transposed, G, gd, tmp)
        normalize(G, gd, self.fac + t, g, tmp)
        return self._record(t, l, step, G, gd, WHAT_ADJOINT, self.bits_adj + t * self.plan.d.n,
                            F_OWN, NULL, g, tmp)

    cdef void _propagate(self, int t, slong l, fmpz_mat_struct *out, fmpz *outd,
                         const Shared *x, fmpz *g, fmpz *tmp) noexcept nogil:
        """dL/df_(l-1) = Wn_l^T G / (D_l gd) from layer l's shared G, canonical per column."""
        cdef slong s
        fmpz_mat_mul(out, self.weights.WnT + l - 1, &x.G)
        for s in range(x.cols):
            fmpz_mul(outd + s, x.gd + s, self.weights.D + l)
        normalize(out, outd, self.fac + t, g, tmp)

    cdef int _outputs_and_loss(self, int t, slong s0, Columns *c, fmpz *g,
                               fmpz *tmp) noexcept nogil:
        """Canonical outputs, the loss, and (backward) the seeds and the reverse sweep."""
        cdef slong s, o, n_out = self.plan.d.n_outputs, cols = c.cols
        cdef fmpz_mat_struct *out = c.H + self.L
        cdef fmpz *outd = c.hd[self.L]
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
                              at(out, self.out_row[o], s), outd + s, self.fac + t, g, False)
        if self.has_labels:
            for s in range(cols):
                fmpq_zero(acc)
                for o in range(n_out):
                    self._loss_entry(t, s0 + s, self.outputs + (s0 + s) * n_out + o,
                                     self.Y + (s0 + s) * n_out + o, acc,
                                     gf + o * cols + s if self.backward else NULL, qtmp, g, r)
                fmpq_addmul(self.loss + t, self.scale + s0 + s, acc)
        if self.backward:
            result = self._backward(t, s0, gf, c, g, tmp)
        _fmpq_vec_clear(gf, n_out * cols + 1)
        fmpq_clear(acc); fmpq_clear(qtmp); fmpz_clear(r)
        return result

    cdef int _backward(self, int t, slong s0, fmpq *gf, Columns *c, fmpz *g,
                       fmpz *tmp) noexcept nogil:
        """Reverse sweep. dL/dz_l and dL/df_(l-1) are per sample (this worker's columns);
        dL/dW_l and dL/db_l are sums over all samples, so after each layer's barrier every
        worker computes a block of their rows from everyone's shared columns."""
        cdef slong l, s, o, n_out = self.plan.d.n_outputs, count = 0, cols = c.cols
        cdef slong n_l, r0
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
                fmpz_mul(at(&G, self.out_row[o], s), fmpq_numref(gf + o * cols + s), tmp)
        for l in range(self.L, 0, -1):
            if self.stop:
                result = STOPPED
                break
            # ReLU's signs: H_L, or H_l shared (transposed) in layer l + 1's slot
            if self._adjoint(t, l, 3 * self.L + 1 - l, c,
                             c.H + l if l == self.L else
                             &self.shared[((l + 1) % 2) * self.threads + t].HT,
                             l != self.L, &G, gd, g, tmp):
                result = BIT_LIMIT
                break
            mine = self.shared + (l % 2) * self.threads + t
            share(mine, &G, gd, c.H + l - 1, c.hd[l - 1], cols)      # G and gd now are mine's
            fmpz_mat_init(&G, self.width[l - 1] if l > 1 else 0, cols)
            gd = _fmpz_vec_init(cols + 1)
            count += 1
            if not self._barrier(count):
                result = STOPPED
                break
            release(self.shared + ((l + 1) % 2) * self.threads + t)   # all have read it
            n_l = self.width[l]
            r0 = n_l * t // self.threads
            self._gradient_rows(t, l, self.shared + (l % 2) * self.threads, self.threads, r0,
                                n_l * (t + 1) // self.threads - r0, self.grad_w, self.grad_z,
                                g, tmp)
            if l > 1:
                self._propagate(t, l, &G, gd, mine, g, tmp)
            fmpz_mat_clear(c.Z + l); fmpz_mat_init(c.Z + l, 0, 0)   # not read again
            self.done[t] += self.width[l]
        fmpz_mat_clear(&G)
        _fmpz_vec_clear(gd, cols + 1)
        if result == DONE:
            self.done[t] += self.width[0]
        return result

    cdef void _gradient_rows(self, int t, slong l, const Shared *part, int parts, slong r0,
                             slong rows, fmpq *grad_w, fmpq *grad_z, fmpz *g,
                             fmpz *tmp) noexcept nogil:
        """Rows r0 .. r0 + rows of dL/dW_l and dL/db_l, summed over the samples of ``parts``
        shared layers: one product over all their columns and one common denominator, each
        entry then set in canonical form once (grad_w by edge id, grad_z by position)."""
        cdef slong n_in = self.width[l - 1], i, j, s, e, k, total
        cdef int u
        cdef fmpz_mat_struct M, A, HT
        cdef fmpq *q
        cdef fmpz_t den, scale
        cdef Factored *f = self.fac + t
        if rows == 0:
            return
        fmpz_init(den); fmpz_init(scale)
        # dL/dW rows: every part's G rows over den, side by side, times the parts' H^T
        # stacked (a window over their rows, nothing copied): one product for all samples
        fmpz_one(den)
        total = 0
        for u in range(parts):
            fmpz_lcm(den, den, &part[u].lcm_scaled)
            total += part[u].cols
        HT.entries, HT.r, HT.c = NULL, total, n_in
        HT.rows = <fmpz **>flint_malloc((total + 1) * sizeof(fmpz *))  # as FLINT's own
        fmpz_mat_init(&A, rows, total)
        k = 0
        for u in range(parts):
            for s in range(part[u].cols):
                HT.rows[k] = part[u].HT.rows[s]
                divide_exact(scale, den, part[u].scaled + s)
                for i in range(rows):
                    fmpz_mul(at(&A, i, k), at(<fmpz_mat_struct *>&part[u].G, r0 + i, s), scale)
                k += 1
        fmpz_mat_init(&M, rows, n_in)
        fmpz_mat_mul(&M, &A, &HT)
        flint_free(HT.rows)
        fmpz_mat_clear(&A)
        if f.exact:
            factor(f, den)
        for i in range(rows):
            for j in range(n_in):
                e = self.edge_id[self.edge_off[l] + (r0 + i) * n_in + j]
                if e < 0:               # no such edge
                    continue
                q = grad_w + e
                set_canonical(q, at(&M, i, j), den, f, g, True)
                self.grad_bits[2 * t] = max(self.grad_bits[2 * t], fmpq_bit_length(q))
        fmpz_mat_clear(&M)
        # dL/db rows: sum over all samples of G[i, s] / gd[s]
        fmpz_one(den)
        for u in range(parts):
            fmpz_lcm(den, den, &part[u].lcm_gd)
        if f.exact:
            factor(f, den)
        for i in range(rows):
            fmpz_zero(tmp)
            for u in range(parts):
                for s in range(part[u].cols):
                    if not fmpz_is_zero(at(<fmpz_mat_struct *>&part[u].G, r0 + i, s)):
                        divide_exact(scale, den, part[u].gd + s)
                        fmpz_addmul(tmp, at(<fmpz_mat_struct *>&part[u].G, r0 + i, s), scale)
            q = grad_z + self.pos[self.pos_off[l] + r0 + i]
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
