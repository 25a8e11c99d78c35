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
Bit statistics and the max_bits guard still see every entry's canonical size.
"""

from libc.stdlib cimport calloc, free
from posix.unistd cimport usleep

from bitprop._flint cimport *
from bitprop._plan cimport Plan, PlanData
from bitprop._kernels cimport (Pass, DONE, STOPPED, BIT_LIMIT, WHAT_Z, WHAT_F, WHAT_ADJOINT,
                               monotonic_now)
from bitprop._convert cimport fmpq_set_fraction
from bitprop._factored cimport (Factored, factored_init, factored_clear, factor, valuation,
                               mul_prime_power, canonical_bits, set_canonical)

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
    static int bitprop_arrive(int *counter) { return __atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST); }
    static int bitprop_arrived(int *counter) { return __atomic_load_n(counter, __ATOMIC_SEQ_CST); }
    """
    int bitprop_arrive(int *counter) nogil
    int bitprop_arrived(int *counter) nogil


cdef inline fmpz *_at(fmpz_mat_struct *m, slong i, slong j) noexcept nogil:
    return m.rows[i] + j


cdef void _normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
                     fmpz *tmp) noexcept nogil:
    """Divide every column and its denominator by their gcd: the column's canonical form."""
    cdef slong i, s
    for s in range(m.c):
        factor(f, den + s)
        _column_content(g, m, s, f, tmp)
        if not fmpz_is_one(g):
            fmpz_divexact(den + s, den + s, g)
            for i in range(m.r):
                fmpz_divexact(_at(m, i, s), _at(m, i, s), g)


cdef void _column_content(fmpz *g, fmpz_mat_struct *m, slong s, const Factored *f,
                          fmpz *tmp) noexcept nogil:
    """g := gcd of column s and its denominator (factored as f): per small prime of the
    denominator the least valuation over the column, which one entry usually settles."""
    cdef slong i
    cdef int k
    cdef ulong v
    cdef fmpz_t rough
    fmpz_one(g)
    for k in range(f.count):
        v = f.exp[k]
        for i in range(m.r):
            if v == 0:
                break
            if not fmpz_is_zero(_at(m, i, s)):
                v = valuation(_at(m, i, s), f.prime[k], v, tmp)
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


cdef void _common_denominator(fmpz *den, fmpz *scale, const fmpz *dens, slong stride,
                              int count) noexcept nogil:
    """den := lcm of dens[0], dens[stride], ...; scale[u] := den / dens[u * stride]."""
    cdef int u
    fmpz_one(den)
    for u in range(count):
        fmpz_lcm(den, den, dens + u * stride)
    for u in range(count):
        fmpz_divexact(scale + u, den, dens + u * stride)


cdef inline void _add_scaled(fmpz *acc, fmpz *x, const fmpz *scale, int u) noexcept nogil:
    """acc := x * scale for the first worker u = 0 (x moved, not copied), else acc += x * scale."""
    if u == 0:
        fmpz_swap(acc, x)
        if not fmpz_is_one(scale):
            fmpz_mul(acc, acc, scale)
    elif fmpz_is_one(scale):
        fmpz_add(acc, acc, x)
    else:
        fmpz_addmul(acc, x, scale)


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
    cdef fmpz_mat_struct *Wn         # per layer l >= 1 (index l - 1)
    cdef fmpz_mat_struct *WnT
    cdef fmpz *bn                    # per layer: n_l entries at pos_off-like offsets
    cdef slong *bn_off
    cdef slong bn_len
    cdef fmpz *D                     # per layer
    cdef slong *out_row              # per output coordinate
    cdef Factored *fac               # per worker: scratch for factored denominators
    cdef int n_fac
    # Backward leaves each worker's gradient sums as integers over one denominator per layer
    # (index t * (L + 1) + l); _combine adds them up and canonicalises each entry once.
    cdef fmpz_mat_struct *part_w     # n_l x n_(l-1): sum over the worker's samples of dL/dW
    cdef fmpz *part_wd
    cdef fmpz *part_b                # t * bn_len + bn_off[l] + i: sum of dL/dz
    cdef fmpz *part_bd
    cdef int *swept                  # per worker: how its forward and backward ended
    cdef int arrived                 # workers done sweeping (read and written atomically)
    cdef bint built

    def __init__(self, Plan plan, inputs, labels=None, scales=None, loss=None, *, layout,
                 **options):
        Pass.__init__(self, plan, inputs, labels, scales, loss)
        self._build(layout)

    def _build(self, layout):
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
        self.bn_off = <slong *>calloc(self.L + 2, sizeof(slong))
        self.out_row = <slong *>calloc(plan.n_outputs + 1, sizeof(slong))
        self.act_p = _fmpz_vec_init(self.L + 1)
        self.act_q = _fmpz_vec_init(self.L + 1)
        self.D = _fmpz_vec_init(self.L + 1)
        self.bn_len = sum(widths) + 1
        self.bn = _fmpz_vec_init(self.bn_len)
        self.part_b = _fmpz_vec_init(self.threads * self.bn_len)
        self.Wn = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        self.fac = <Factored *>calloc(self.threads, sizeof(Factored))
        if self.fac == NULL:
            raise MemoryError()
        for i in range(self.threads):
            factored_init(self.fac + i)
        self.n_fac = self.threads
        self.part_w = <fmpz_mat_struct *>calloc(self.threads * (self.L + 1),
                                                sizeof(fmpz_mat_struct))
        self.part_wd = _fmpz_vec_init(self.threads * (self.L + 1))
        self.part_bd = _fmpz_vec_init(self.threads * (self.L + 1))
        self.swept = <int *>calloc(self.threads, sizeof(int))
        if self.part_w == NULL or self.swept == NULL:
            raise MemoryError()
        for i in range(self.threads * (self.L + 1)):
            fmpz_mat_init(self.part_w + i, 0, 0)
        self.WnT = <fmpz_mat_struct *>calloc(self.L + 1, sizeof(fmpz_mat_struct))
        if (self.width == NULL or self.pos_off == NULL or self.pos == NULL or
                self.edge_off == NULL or self.edge_id == NULL or self.code == NULL or
                self.degree == NULL or self.bn_off == NULL or self.out_row == NULL or
                self.Wn == NULL or self.WnT == NULL):
            raise MemoryError()
        k = 0
        for l, layer in enumerate(layout.layers):
            self.width[l] = len(layer)
            self.pos_off[l] = k
            for p in layer:
                self.pos[k] = p
                k += 1
        self.pos_off[self.L + 1] = k
        k = 0
        for l in range(1, self.L + 1):
            self.edge_off[l] = k
            for e in layout.edge_ids[l - 1]:
                self.edge_id[k] = e
                k += 1
            code, activation = layout.activations[l - 1]
            self.code[l] = code
            if code == D_LEAKY:
                fmpq_to_pair(self.act_p + l, self.act_q + l, activation.slope)
            elif code == D_MONO:
                self.degree[l] = len(activation.coefficients) - 1
                fmpq_to_pair(self.act_p + l, self.act_q + l, activation.coefficients[-1])
        for o, row in enumerate(layout.output_rows):
            self.out_row[o] = row
        for l in range(1, self.L + 1):
            fmpz_mat_init(self.Wn + l - 1, self.width[l], self.width[l - 1])
            fmpz_mat_init(self.WnT + l - 1, self.width[l - 1], self.width[l])
        self.built = True
        self._scale_weights()

    cdef void _scale_weights(self) noexcept:
        """Wn_l = W_l D_l and bn_l = b_l D_l in integers, D_l the lcm of the layer's
        denominators (parameters change between gradient steps, so this runs per pass)."""
        cdef PlanData *plan = &self.plan.d
        cdef slong l, i, j, e, n_in, n_out, off = 0
        cdef fmpz_t factor
        cdef const fmpq *w
        fmpz_init(factor)
        for l in range(1, self.L + 1):
            n_out, n_in = self.width[l], self.width[l - 1]
            self.bn_off[l] = off
            fmpz_one(self.D + l)
            for i in range(n_out):
                fmpz_lcm(self.D + l, self.D + l, fmpq_denref(plan.bias_sum + self.pos[self.pos_off[l] + i]))
                for j in range(n_in):
                    e = self.edge_id[self.edge_off[l] + i * n_in + j]
                    fmpz_lcm(self.D + l, self.D + l, fmpq_denref(plan.weight + e))
            for i in range(n_out):
                w = plan.bias_sum + self.pos[self.pos_off[l] + i]
                fmpz_divexact(factor, self.D + l, fmpq_denref(w))
                fmpz_mul(self.bn + off + i, fmpq_numref(w), factor)
                for j in range(n_in):
                    w = plan.weight + self.edge_id[self.edge_off[l] + i * n_in + j]
                    fmpz_divexact(factor, self.D + l, fmpq_denref(w))
                    fmpz_mul(_at(self.Wn + l - 1, i, j), fmpq_numref(w), factor)
            fmpz_mat_transpose(self.WnT + l - 1, self.Wn + l - 1)
            off += n_out
        fmpz_clear(factor)

    def __dealloc__(self):
        cdef slong l
        if self.built:
            for l in range(1, self.L + 1):
                fmpz_mat_clear(self.Wn + l - 1)
                fmpz_mat_clear(self.WnT + l - 1)
        if self.act_p != NULL:
            _fmpz_vec_clear(self.act_p, self.L + 1)
            _fmpz_vec_clear(self.act_q, self.L + 1)
            _fmpz_vec_clear(self.D, self.L + 1)
        if self.bn != NULL:
            _fmpz_vec_clear(self.bn, self.bn_len)
        for l in range(self.n_fac):
            factored_clear(self.fac + l)
        free(self.fac)
        if self.part_w != NULL:
            for l in range(self.n_fac * (self.L + 1)):
                fmpz_mat_clear(self.part_w + l)
            _fmpz_vec_clear(self.part_wd, self.n_fac * (self.L + 1))
            _fmpz_vec_clear(self.part_bd, self.n_fac * (self.L + 1))
        if self.part_b != NULL:
            _fmpz_vec_clear(self.part_b, self.n_fac * self.bn_len)
        free(self.part_w); free(self.swept)
        free(self.Wn); free(self.WnT)
        free(self.width); free(self.pos_off); free(self.pos); free(self.edge_off)
        free(self.edge_id); free(self.code); free(self.degree); free(self.bn_off)
        free(self.out_row)

    def refresh_weights(self):
        """Re-scale the weights after the plan's parameters changed (gradient steps)."""
        self._scale_weights()

    def reduce_gradients(self):
        """Nothing to do: _combine has already summed the workers' gradients."""

    # --- the worker --------------------------------------------------------------------------
    cdef int _work(self, int t) noexcept nogil:
        """Forward and backward over this worker's samples; with backward, wait until every
        worker has swept, then canonicalise this worker's share of the gradient rows."""
        cdef int u, result = self._sweep(t)
        if not self.backward:
            return result
        self.swept[t] = result
        bitprop_arrive(&self.arrived)
        while bitprop_arrived(&self.arrived) < self.threads:
            usleep(20)      # every worker arrives: a sweep always ends, stopped or not
        for u in range(self.threads):
            if self.swept[u] != DONE:
                return result
        result = self._combine(t)
        self.t_end[t] = monotonic_now()
        return result

    cdef int _sweep(self, int t) noexcept nogil:
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
        for l in range(self.L + 1):
            fmpz_mat_clear(H + l)
            fmpz_mat_clear(Z + l)
            _fmpz_vec_clear(hd[l], cols + 1)
            _fmpz_vec_clear(zd[l], cols + 1)
        free(H); free(Z); free(hd); free(zd)
        fmpz_clear(g); fmpz_clear(tmp)
        return result

    cdef int _combine(self, int t) noexcept nogil:
        """Worker t's share of the gradient: rows [r0, r1) of all the layers' rows in order.
        Each entry is the workers' partial sums added over the lcm of their denominators and
        set in canonical form once, into the slots gradients() reads."""
        cdef slong rows = 0, first = 0, r0, r1, lo, hi, l, i, j, n_in, stride = self.L + 1
        cdef int u, T = self.threads, result = DONE
        cdef fmpz *scale = _fmpz_vec_init(T)
        cdef fmpz_t den, acc, g
        cdef Factored *f = self.fac + t
        fmpz_init(den); fmpz_init(acc); fmpz_init(g)
        for l in range(1, self.L + 1):
            rows += self.width[l]
        r0, r1 = rows * t // T, rows * (t + 1) // T
        for l in range(1, self.L + 1):
            lo, hi = max(r0 - first, 0), min(r1 - first, self.width[l])
            first += self.width[l]
            if lo >= hi:
                continue
            if self.stop:
                result = STOPPED
                break
            n_in = self.width[l - 1]
            _common_denominator(den, scale, self.part_wd + l, stride, T)
            factor(f, den)
            for i in range(lo, hi):
                for j in range(n_in):
                    for u in range(T):
                        _add_scaled(acc, _at(self.part_w + u * stride + l, i, j), scale + u, u)
                    set_canonical(self.grad_w + self.edge_id[self.edge_off[l] + i * n_in + j],
                                  acc, den, f, g, True)
            _common_denominator(den, scale, self.part_bd + l, stride, T)
            factor(f, den)
            for i in range(lo, hi):
                for u in range(T):
                    _add_scaled(acc, self.part_b + u * self.bn_len + self.bn_off[l] + i,
                                scale + u, u)
                set_canonical(self.grad_z + self.pos[self.pos_off[l] + i], acc, den, f, g, True)
        _fmpz_vec_clear(scale, T)
        fmpz_clear(den); fmpz_clear(acc); fmpz_clear(g)
        return result

    cdef int _record(self, int t, slong l, fmpz_mat_struct *m, const fmpz *den, int what,
                     long *bits, int f_rule, long *f_bits, fmpz *g, fmpz *tmp) noexcept nogil:
        """Bit statistics (canonical sizes) of layer l's matrix; BIT_LIMIT over max_bits.
        ``f_rule`` F_SAME or F_RELU also records into ``f_bits`` the sizes of f = sigma(z),
        read off z's (neither makes an entry longer, so z's guard covers f)."""
        cdef slong i, s, p
        cdef long b, bf
        cdef Factored *f = self.fac + t
        for s in range(m.c):
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
                    self.fault_pos[t], self.fault_what[t], self.fault_bits[t] = p, what, b
                    return BIT_LIMIT
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
        if self._record(t, 0, H, hd[0], WHAT_F, self.bits_f + t * n, F_OWN, NULL, g, tmp):
            return BIT_LIMIT
        self.done[t] += self.width[0]
        for l in range(1, self.L + 1):
            if self.stop:
                return STOPPED
            fmpz_mat_mul(Z + l, self.Wn + l - 1, H + l - 1)
            for s in range(cols):
                fmpz_mul(zd[l] + s, self.D + l, hd[l - 1] + s)
                for i in range(self.width[l]):
                    fmpz_addmul(_at(Z + l, i, s), self.bn + self.bn_off[l] + i, hd[l - 1] + s)
            _normalize(Z + l, zd[l], self.fac + t, g, tmp)
            f_rule = (F_SAME if self.code[l] == D_IDENTITY else
                      F_RELU if self.code[l] == D_RELU else F_OWN)
            if self._record(t, l, Z + l, zd[l], WHAT_Z, self.bits_z + t * n, f_rule,
                            self.bits_f + t * n, g, tmp):
                return BIT_LIMIT
            self._activate(l, Z + l, zd[l], H + l, hd[l])
            _normalize(H + l, hd[l], self.fac + t, g, tmp)
            if f_rule == F_OWN and self._record(t, l, H + l, hd[l], WHAT_F,
                                                self.bits_f + t * n, F_OWN, NULL, g, tmp):
                return BIT_LIMIT
            self.done[t] += self.width[l]
        return DONE

    cdef void _activate(self, slong l, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                        fmpz *hd) noexcept nogil:
        """H = sigma(Z / zd) as integers over hd."""
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
                    fmpz_set(_at(h, i, s), _at(z, i, s))
                elif code == D_RELU:
                    if fmpz_sgn(_at(z, i, s)) > 0:
                        fmpz_set(_at(h, i, s), _at(z, i, s))
                    else:
                        fmpz_zero(_at(h, i, s))
                elif code == D_LEAKY:
                    fmpz_mul(_at(h, i, s), _at(z, i, s),
                             self.act_q + l if fmpz_sgn(_at(z, i, s)) > 0 else self.act_p + l)
                else:
                    fmpz_pow_ui(_at(h, i, s), _at(z, i, s), self.degree[l])
                    fmpz_mul(_at(h, i, s), _at(h, i, s), self.act_p + l)

    cdef void _derivative(self, slong l, fmpz_mat_struct *z, const fmpz *zd,
                          fmpz_mat_struct *gm, fmpz *gd, fmpz *tmp) noexcept nogil:
        """G := G * sigma'(Z / zd) entrywise, in place (integers over gd)."""
        cdef slong i, s, d = self.degree[l]
        cdef int code = self.code[l]
        for s in range(z.c):
            if code == D_MONO:           # sigma' = d p z^(d-1) / (q zd^(d-1))
                fmpz_pow_ui(tmp, zd + s, d - 1)
                fmpz_mul(tmp, tmp, self.act_q + l)
                fmpz_mul(gd + s, gd + s, tmp)
            elif code == D_LEAKY:
                fmpz_mul(gd + s, gd + s, self.act_q + l)
            for i in range(z.r):
                if code == D_RELU:
                    if fmpz_sgn(_at(z, i, s)) <= 0:
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
        cdef slong l, i, j, s, o, n = self.plan.d.n, n_out = self.plan.d.n_outputs
        cdef slong n_in, n_l, E = self.plan.d.n_edges
        cdef fmpz_mat_struct G, Gprev, HT
        cdef fmpz_mat_struct *M
        cdef fmpz *b
        cdef fmpz *gd = _fmpz_vec_init(cols + 1)
        cdef fmpz *scaled_den = _fmpz_vec_init(cols + 1)
        cdef fmpz_t common
        cdef fmpq_t q
        cdef int result = DONE
        fmpz_init(common); fmpq_init(q)
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
            n_l, n_in = self.width[l], self.width[l - 1]
            self._derivative(l, Z + l, zd[l], &G, gd, tmp)          # G = dL/dz_l
            _normalize(&G, gd, self.fac + t, g, tmp)
            if self._record(t, l, &G, gd, WHAT_ADJOINT, self.bits_adj + t * n, F_OWN, NULL,
                            g, tmp):
                result = BIT_LIMIT
                break
            # dL/db: sum over samples of G[i, s] / gd[s], as integers over common
            _column_lcm(self.part_bd + t * (self.L + 1) + l, gd, cols)
            for i in range(n_l):
                b = self.part_b + t * self.bn_len + self.bn_off[l] + i
                for s in range(cols):
                    if not fmpz_is_zero(_at(&G, i, s)):
                        fmpz_divexact(g, self.part_bd + t * (self.L + 1) + l, gd + s)
                        fmpz_addmul(b, _at(&G, i, s), g)
            # dL/dW = (G scaled to a common denominator) H_(l-1)^T
            for s in range(cols):
                fmpz_mul(scaled_den + s, gd + s, hd[l - 1] + s)
            _column_lcm(common, scaled_den, cols)
            fmpz_mat_init(&HT, cols, n_in)
            fmpz_mat_transpose(&HT, H + l - 1)
            fmpz_mat_init(&Gprev, n_l, cols)
            for s in range(cols):
                fmpz_divexact(g, common, scaled_den + s)
                for i in range(n_l):
                    fmpz_mul(_at(&Gprev, i, s), _at(&G, i, s), g)
            M = self.part_w + t * (self.L + 1) + l
            fmpz_mat_clear(M)
            fmpz_mat_init(M, n_l, n_in)
            fmpz_mat_mul(M, &Gprev, &HT)
            fmpz_swap(self.part_wd + t * (self.L + 1) + l, common)
            fmpz_mat_clear(&Gprev)
            fmpz_mat_clear(&HT)
            # dL/df_(l-1) = Wn^T G / (D gd)
            fmpz_mat_init(&Gprev, n_in, cols)
            if l > 1:
                fmpz_mat_mul(&Gprev, self.WnT + l - 1, &G)
                for s in range(cols):
                    fmpz_mul(gd + s, gd + s, self.D + l)
                _normalize(&Gprev, gd, self.fac + t, g, tmp)
            fmpz_mat_clear(&G)
            G = Gprev
            # layer l is done: its values are not read again
            fmpz_mat_clear(H + l); fmpz_mat_init(H + l, 0, 0)
            fmpz_mat_clear(Z + l); fmpz_mat_init(Z + l, 0, 0)
            self.done[t] += n_l
        fmpz_mat_clear(&G)
        if result == DONE:
            self.done[t] += self.width[0]
        _fmpz_vec_clear(gd, cols + 1)
        _fmpz_vec_clear(scaled_den, cols + 1)
        fmpz_clear(common); fmpq_clear(q)
        return result


cdef void fmpq_to_pair(fmpz *p, fmpz *q, value) except *:
    """p, q := numerator and denominator of a Fraction."""
    cdef fmpq_t tmp
    fmpq_init(tmp)
    fmpq_set_fraction(tmp, value)
    fmpz_set(p, fmpq_numref(tmp))
    fmpz_set(q, fmpq_denref(tmp))
    fmpq_clear(tmp)
