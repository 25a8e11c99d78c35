# cython: language_level=3, cdivision=True
"""The dense-block engine: dense layers as integer matrix products, the fraction-free form of
forward and backward.

A layer's values are an integer matrix with one positive denominator per sample column
(samples are columns, bitprop._columns). Weights are scaled once to integers over one
denominator per layer (W = Wn / D_l, bias sums b = bn / D_l), so

    Z_l = (Wn_l H_(l-1) + bn_l hd_(l-1)^T) / (D_l hd_(l-1))        (integer products:
    dL/dH_(l-1) = Wn_l^T G_l / (D_l gd)                                bitprop._columns.product)
    dL/dW_l = sum_s G_l[:, s] H_(l-1)[:, s]^T                         (one product over a
              common denominator of the samples)

Canonical fmpq values appear only where they leave the engine. Bit statistics and the
max_bits guard are exact: they take the canonical size of every entry whose size as it
stands could raise them (record_rows). Every gcd is taken against a denominator whose prime
factors are known where that pays (bitprop._factored); the gradient sums over a long common
denominator take theirs from a remainder tree of its prime powers (tree_min_words).

The engine runs a block of layers l0 + 1 .. last on one worker's columns: forward_layers,
then backward_layers. Forward and the adjoints run per slice of the samples; dL/dW_l and
dL/db_l sum over all samples, so after each layer's barrier every worker computes a block of
their rows from every worker's columns (_gradient_rows): one canonical value per entry, no
reduction. Where the entries' gcds come from residues, each worker computes those of its
own samples' share for all rows, and the shares are added up after one more barrier. The
layers of several blocks are numbered one after the other; a block's layer 0 (in
``starts``) has no weights.
"""

from libc.stdlib cimport calloc, malloc, free

from bitprop._flint cimport *
from bitprop._plan cimport Plan, PlanData
from bitprop._codes cimport ACT_NONE, ACT_IDENTITY, ACT_RELU, ACT_LEAKY, ACT_MONO
from bitprop._pass cimport (Pass, Worker, DONE, STOPPED, BIT_LIMIT, WHAT_Z, WHAT_F,
                            WHAT_ADJOINT, WHAT_F_PREDICTED, power_bits_floor, plan_primes)
from bitprop._convert cimport fmpq_set_fraction, fmpq_bit_length
from bitprop._factored cimport (PrimeBase, Factored, factor, canonical_bits,
                               set_canonical, divide_exact, batch_start, batch_add, batch_end,
                               Primes, Powers, powers_init, powers_clear, residues, dot_mod,
                               mul_mod, add_mod, gcd_from_residues, set_reduced, Tree,
                               tree_init, tree_clear, tree_residues)
from bitprop._columns cimport (Shared, Columns, at, empty, columns_init, normalize, share,
                               release, product)
from bitprop._rules cimport ColumnRule, activate, derivative, first_power_over


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


cdef class DenseEngine:
    """Dense layers (a bitprop.layers.DenseLayout, one block or several) run on workers'
    columns; its integer weights are built once per compiled network and shared by its
    passes (``weights``: those of an earlier pass over the same plan and layout)."""

    def __init__(self, Plan plan, layout, DenseWeights weights=None):
        cdef slong l, k
        widths = layout.widths
        self.plan = plan
        self.L = len(widths) - 1
        self.width = <slong *>calloc(self.L + 1, sizeof(slong))
        self.pos_off = <slong *>calloc(self.L + 2, sizeof(slong))
        self.pos = <slong *>calloc(sum(widths) + 1, sizeof(slong))
        self.edge_off = <slong *>calloc(self.L + 2, sizeof(slong))
        self.edge_id = <slong *>calloc(len(layout.flat_edge_ids) + 1, sizeof(slong))
        self.code = <int *>calloc(self.L + 1, sizeof(int))
        self.degree = <slong *>calloc(self.L + 1, sizeof(slong))
        self.act_p = _fmpz_vec_init(self.L + 1)
        self.act_q = _fmpz_vec_init(self.L + 1)
        if (self.width == NULL or self.pos_off == NULL or self.pos == NULL or
                self.edge_off == NULL or self.edge_id == NULL or self.code == NULL or
                self.degree == NULL):
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
        self.code[0] = ACT_NONE
        for l in range(1, self.L + 1):
            self.edge_off[l] = k
            k += len(layout.edge_ids[l - 1])
            if layout.activations[l - 1] is None:       # a block's input layer
                self.code[l] = ACT_NONE
                continue
            code, activation = layout.activations[l - 1]
            self.code[l] = code
            if code == ACT_LEAKY:
                _set_pair(self.act_p + l, self.act_q + l, activation.slope)
            elif code == ACT_MONO:
                self.degree[l] = len(activation.coefficients) - 1
                _set_pair(self.act_p + l, self.act_q + l, activation.coefficients[-1])
        if weights is None:
            weights = DenseWeights(widths, layout.starts)
            self._scale_weights(weights)
            weights.primes = plan_primes(&plan.d)
        self.weights = weights

    def __dealloc__(self):
        if self.act_p != NULL:
            _fmpz_vec_clear(self.act_p, self.L + 1)
            _fmpz_vec_clear(self.act_q, self.L + 1)
        free(self.width); free(self.pos_off); free(self.pos); free(self.edge_off)
        free(self.edge_id); free(self.code); free(self.degree)

    cdef void _scale_weights(self, DenseWeights dw) noexcept:
        """Fill dw from the plan's parameters."""
        cdef PlanData *plan = &self.plan.d
        cdef slong l, i, j, e, n_in, n_out, off = 0
        cdef fmpz_t factor
        cdef const fmpq *w
        fmpz_init(factor)
        for l in range(1, self.L + 1):
            n_out, n_in = self.width[l], self.width[l - 1]
            dw.bn_off[l] = off
            off += n_out
            if self.code[l] == ACT_NONE:
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

    # --- before the workers start ------------------------------------------------------
    cdef void prepare(self, Pass run) except *:
        """How each worker takes gcds: over the primes of the network's and the samples'
        denominators (Pass.use_primes)."""
        run.use_primes(self.weights.primes)

    # --- a worker's life ---------------------------------------------------------------
    cdef bint start(self, Pass run, Worker *w) noexcept nogil:
        """Empty columns of every layer for w's samples; False (w has left) without memory."""
        if columns_init(&w.columns, self.width, self.L + 1, w.s1 - w.s0):
            return True
        self.leave(run, w, STOPPED)     # nobody waits for this worker at a barrier
        return False

    cdef void leave(self, Pass run, Worker *w, int result) noexcept nogil:
        """w is done with the backward sweep: once every worker is (Pass.leave; another may
        still read w's shared layer), free w's shared slots."""
        run.leave(w, result)
        release(&w.shared[0])
        release(&w.shared[1])

    cdef void column_ready(self, Worker *w, const fmpz *den) noexcept nogil:
        """Make w ready to take canonical values over ``den`` (set_canonical with w.fac)."""
        factor(&w.fac, den, &w.tmp)

    # --- forward -----------------------------------------------------------------------
    cdef int record(self, Pass run, Worker *w, slong l, slong step, fmpz_mat_struct *m,
                    const fmpz *den, int what, long *bits, int f_rule,
                    long *f_bits) noexcept nogil:
        """Bit statistics of layer l's matrix (record_rows)."""
        return record_rows(run, w, m, den, self.pos + self.pos_off[l], step, what, bits,
                           f_rule, f_bits)

    cdef int forward_layers(self, Pass run, Worker *w, slong l0, slong last,
                            slong step) noexcept nogil:
        """Layers l0 + 1 .. last from layer l0's columns (H[l0] over hd[l0]); layer k of the
        block records at ``step`` + 2k - 1 (z) and + 2k (f). A forward pass alone keeps one
        layer, not all of them: H[last] stays."""
        cdef Columns *c = &w.columns
        cdef slong l
        for l in range(l0 + 1, last + 1):
            if run.stop:
                return STOPPED
            if self._forward_layer(run, w, l, step + 2 * (l - l0) - 1):
                return BIT_LIMIT
            if not run.backward:
                empty(c.H + l - 1)
                empty(c.Z + l)
            w.done += self.width[l]
        return DONE

    cdef int _forward_layer(self, Pass run, Worker *w, slong l, slong step) noexcept nogil:
        """Layer l's Z and H from H_(l-1), canonical per column, recorded at ``step`` (z) and
        ``step + 1`` (f)."""
        cdef Columns *c = &w.columns
        cdef slong i, s
        cdef fmpz_mat_struct *Z = c.Z + l
        cdef fmpz *zd = c.zd[l]
        cdef fmpz *hd = c.hd[l - 1]
        product(Z, self.weights.Wn + l - 1, c.H + l - 1)
        for s in range(c.cols):
            fmpz_mul(zd + s, self.weights.D + l, hd + s)
            for i in range(self.width[l]):
                fmpz_addmul(at(Z, i, s), self.weights.bn + self.weights.bn_off[l] + i, hd + s)
        cdef ColumnRule rule = self._rule(l)
        return activate_layer(run, w, &rule, Z, zd, c.H + l, c.hd[l],
                              self.pos + self.pos_off[l], step)

    cdef void _activate(self, slong l, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                        fmpz *hd) noexcept nogil:
        """H = sigma(Z / zd) as integers over hd (bitprop._rules)."""
        cdef ColumnRule rule = self._rule(l)
        activate(&rule, z, zd, h, hd)

    cdef void _derivative(self, slong l, fmpz_mat_struct *z, const fmpz *zd,
                          const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                          fmpz *gd, fmpz *tmp) noexcept nogil:
        """G := G * sigma'(Z / zd) entrywise, in place (bitprop._rules)."""
        cdef ColumnRule rule = self._rule(l)
        derivative(&rule, z, zd, h, h_transposed, gm, gd, tmp)

    cdef ColumnRule _rule(self, slong l) noexcept nogil:
        cdef ColumnRule rule
        rule.code, rule.degree = self.code[l], self.degree[l]
        rule.p, rule.q = self.act_p + l, self.act_q + l
        return rule

    # --- backward ----------------------------------------------------------------------
    cdef int backward_layers(self, Pass run, Worker *w, slong l0, slong last, slong step,
                             fmpz_mat_struct *G, fmpz **gd, bint to_input) noexcept nogil:
        """Layers last .. l0 + 1 backward, from G / gd[0] = dL/df of layer ``last`` (w's
        columns): each layer's adjoints dL/dz (recorded at ``step`` + last - l), then, after
        a barrier, w's rows of its dL/dW and dL/db from all workers' samples, then dL/df of
        the layer below. With ``to_input``, G / gd[0] end as dL/df of layer l0."""
        cdef Columns *c = &w.columns
        cdef slong l, n_l, r0, cols = c.cols
        cdef Shared *mine
        for l in range(last, l0, -1):
            if run.stop:
                return STOPPED
            # ReLU's signs: H_last, or H_l moved (transposed) into the slot shared last
            if self._adjoint(run, w, l, step + last - l,
                             c.H + l if l == last else &w.shared[(w.shares - 1) & 1].HT,
                             l != last, G, gd[0]):
                return BIT_LIMIT
            mine = &w.shared[w.shares & 1]
            share(mine, G, gd[0], c.H + l - 1, c.hd[l - 1], cols)   # G, gd[0] now are mine's
            w.shares += 1
            fmpz_mat_init(G, self.width[l - 1] if l > l0 + 1 or to_input else 0, cols)
            gd[0] = _fmpz_vec_init(cols + 1)
            if not run.barrier(w):
                return STOPPED
            release(&w.shared[w.shares & 1])           # every worker has read it
            n_l = self.width[l]
            r0 = n_l * w.index // run.threads
            if self._gradient_rows(run, w, l, (w.shares - 1) & 1, r0,
                                   n_l * (w.index + 1) // run.threads - r0):
                return STOPPED
            if l > l0 + 1 or to_input:
                self._propagate(w, l, G, gd[0], &mine.G, mine.gd, cols, l == l0 + 1)
            empty(c.Z + l)                              # not read again
            w.done += self.width[l]
        return DONE

    cdef int _adjoint(self, Pass run, Worker *w, slong l, slong step,
                      const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *G,
                      fmpz *gd) noexcept nogil:
        """G := dL/dz_l from dL/df_l (in place), canonical per column and recorded."""
        cdef Columns *c = &w.columns
        self._derivative(l, c.Z + l, c.zd[l], h, h_transposed, G, gd, &w.tmp)
        normalize(G, gd, &w.fac, &w.g, &w.tmp)
        return self.record(run, w, l, step, G, gd, WHAT_ADJOINT, w.bits_adj, F_OWN, NULL)

    cdef void _propagate(self, Worker *w, slong l, fmpz_mat_struct *out, fmpz *outd,
                         const fmpz_mat_struct *G, const fmpz *gd, slong cols,
                         bint leaves) noexcept nogil:
        """dL/df_(l-1) = Wn_l^T G / (D_l gd) from layer l's G; canonical per column where
        it ``leaves`` the block, else as it is: layer l - 1's adjoint normalises it after
        sigma', and finds then all that a gcd now would (here a few bits; after ReLU's
        mask, hundreds)."""
        cdef slong s
        product(out, self.weights.WnT + l - 1, G)
        for s in range(cols):
            fmpz_mul(outd + s, gd + s, self.weights.D + l)
        if leaves:
            normalize(out, outd, &w.fac, &w.g, &w.tmp)

    cdef int _gradient_rows(self, Pass run, Worker *w, slong l, int slot, slong r0,
                            slong rows) noexcept nogil:
        """Rows r0 .. r0 + rows of dL/dW_l and dL/db_l, summed over the samples every worker
        shared in ``slot``: one product over all their columns and one common denominator,
        each entry then set in canonical form once (run.grad_w by edge id, run.grad_z by
        position; region 0). STOPPED when a barrier of the residues' (_shared_residues) is
        broken off, else DONE; every worker takes part, with rows or without."""
        cdef slong n_in = self.width[l - 1], i, j, s, e, k, total
        cdef int u
        cdef fmpz_mat_struct M, A, HT
        cdef const Shared *part
        cdef fmpz_t den
        cdef Powers P
        cdef ulong *res = NULL
        cdef fmpz *scales
        cdef int result = DONE
        cdef bint powered
        cdef fmpz *g = &w.g
        cdef fmpz *tmp = &w.tmp
        cdef Tree tree
        tree.levels = 0
        if rows == 0 and not run.canonical_gradients:   # (else: for _shared_residues)
            return DONE
        fmpz_init(den)
        # dL/dW rows: every part's G rows over den, side by side, times the parts' H^T
        # stacked (a window over their rows, nothing copied): one product for all samples
        fmpz_one(den)
        total = 0
        for u in range(run.threads):
            part = &run.workers[u].shared[slot]
            fmpz_lcm(den, den, &part.lcm_scaled)
            total += part.cols
        HT.entries, HT.r, HT.c = NULL, total, n_in
        HT.rows = <fmpz **>flint_malloc((total + 1) * sizeof(fmpz *))  # as FLINT's own
        scales = _fmpz_vec_init(total + 1)          # A[i, k] = G[r0 + i, s] * scales[k]
        fmpz_mat_init(&A, rows, total)
        k = 0
        for u in range(run.threads):
            part = &run.workers[u].shared[slot]
            for s in range(part.cols):
                HT.rows[k] = part.HT.rows[s]
                divide_exact(scales + k, den, part.scaled + s)
                for i in range(rows):
                    fmpz_mul(at(&A, i, k), at(<fmpz_mat_struct *>&part.G, r0 + i, s),
                             scales + k)
                k += 1
        fmpz_mat_init(&M, rows, n_in)
        if rows:
            product(&M, &A, &HT)
        fmpz_mat_clear(&A)
        self.column_ready(w, den)
        # the entries' gcds with den from residues by den's prime powers, where the
        # workers' samples' shares of them read less than M's entries would
        powered = run.canonical_gradients and _residues_pay(run, &w.fac, slot, self.width[l],
                                                            n_in, scales)
        if powered:                     # (P is set, if empty, from here on)
            result = _shared_residues(run, w, slot, self.width[l], n_in, den, scales, r0,
                                      rows, &P, &res)
        elif (run.canonical_gradients and rows
                and <slong>fmpz_size(den) >= tree_min_words):
            tree_init(&tree, den, &w.fac, 2, tmp)       # (else levels 0: gcd_with)
        flint_free(HT.rows)
        _fmpz_vec_clear(scales, total + 1)
        if result != DONE:
            powers_clear(&P)
            fmpz_mat_clear(&M)
            fmpz_clear(den)
            return result
        for i in range(rows):
            for j in range(n_in):
                e = self.edge_id[self.edge_off[l] + (r0 + i) * n_in + j]
                if e < 0:                # (-1: no such edge)
                    continue
                if res == NULL and tree.levels == 0:
                    set_sum(run, run.grad_w + e, at(&M, i, j), den, &w.fac, g,
                            &w.grad_bits_w)
                elif fmpz_is_zero(at(&M, i, j)):
                    fmpq_zero(run.grad_w + e)
                    w.grad_bits_w = max(w.grad_bits_w, 1)       # 0 has 1 bit
                else:
                    if res == NULL:             # by the tree
                        gcd_from_residues(g, at(&M, i, j), den,
                                          tree_residues(&tree, at(&M, i, j)), 1,
                                          &tree.powers, tmp)
                    else:                       # by the shared residues
                        gcd_from_residues(g, at(&M, i, j), den, res + i * n_in + j,
                                          rows * n_in, &P, tmp)
                    set_reduced(run.grad_w + e, at(&M, i, j), den, g, True)
                    w.grad_bits_w = max(w.grad_bits_w, fmpq_bit_length(run.grad_w + e))
        free(res)
        if powered:
            powers_clear(&P)
        tree_clear(&tree)
        fmpz_mat_clear(&M)
        # dL/db rows: sum over all samples of G[i, s] / gd[s] = G[i, s] scales[k] / den
        if rows:
            fmpz_one(den)
            for u in range(run.threads):
                fmpz_lcm(den, den, &run.workers[u].shared[slot].lcm_gd)
            self.column_ready(w, den)
            scales = _fmpz_vec_init(total + 1)
            k = 0
            for u in range(run.threads):
                part = &run.workers[u].shared[slot]
                for s in range(part.cols):
                    divide_exact(scales + k, den, part.gd + s)
                    k += 1
            for i in range(rows):
                fmpz_zero(tmp)
                k = 0
                for u in range(run.threads):
                    part = &run.workers[u].shared[slot]
                    for s in range(part.cols):
                        fmpz_addmul(tmp, at(<fmpz_mat_struct *>&part.G, r0 + i, s), scales + k)
                        k += 1
                set_sum(run, run.grad_z + self.pos[self.pos_off[l] + r0 + i], tmp, den,
                        &w.fac, g, &w.grad_bits_b)
            _fmpz_vec_clear(scales, total + 1)
        fmpz_clear(den)
        return DONE


cdef int record_rows(Pass run, Worker *w, fmpz_mat_struct *m, const fmpz *den,
                     const slong *positions, slong step, int what, long *bits, int f_rule,
                     long *f_bits) noexcept nogil:
    """Bit statistics (canonical sizes) of a matrix whose row i holds position
    ``positions[i]``, column by column; BIT_LIMIT at the first over max_bits. ``f_rule``
    F_SAME or F_RELU also records into ``f_bits`` the sizes of f = sigma(z), read off z's
    (neither makes an entry longer, so z's guard covers f). ``step`` (sweep_step) orders the
    records for the bit-limit fault.

    An entry's canonical size is at most the size of its num/den as they are; an entry
    whose bound changes no statistic and passes the guard takes no gcd (on ReLU networks
    with 16-bit denominators, more than half of them)."""
    cdef slong i, s, p, needed
    cdef long b, bf
    for s in range(m.c):
        needed = 0
        for i in range(m.r):
            needed += _may_count(run, at(m, i, s), den + s, positions[i], bits, f_rule, f_bits)
        if needed == 0:
            continue
        factor(&w.fac, den + s, &w.tmp)
        if batch_start(&w.fac, den + s, needed):   # the column's gcds together
            for i in range(m.r):
                if _may_count(run, at(m, i, s), den + s, positions[i], bits, f_rule, f_bits):
                    batch_add(&w.fac, at(m, i, s), den + s)
            batch_end(&w.fac, den + s, &w.tmp)
        for i in range(m.r):    # statistics only grow: every entry needed now was batched
            p = positions[i]
            if not _may_count(run, at(m, i, s), den + s, p, bits, f_rule, f_bits):
                continue
            b = canonical_bits(at(m, i, s), den + s, &w.fac, &w.g, &w.tmp)
            if b > bits[p]:
                bits[p] = b
            if f_rule != F_OWN:
                bf = 1 if f_rule == F_RELU and fmpz_sgn(at(m, i, s)) <= 0 else b
                if bf > f_bits[p]:
                    f_bits[p] = bf
            if run.max_bits and b > run.max_bits:
                return run.mark_fault(w, p, w.s0 + s, step, what, b)
    return DONE


cdef inline bint _may_count(Pass run, const fmpz *num, const fmpz *den, slong p,
                            const long *bits, int f_rule, const long *f_bits) noexcept nogil:
    """Whether the entry num/den of position p may raise its statistics (record_rows) or
    fail the guard: its canonical size is at most bitlen |num| + bitlen den (0 has 1 bit),
    and ReLU's f of a z <= 0 has 1 bit."""
    cdef long bound = 1 if fmpz_is_zero(num) else fmpz_bits(num) + fmpz_bits(den)
    if bound > bits[p] or (run.max_bits and bound > run.max_bits):
        return True
    if f_rule == F_OWN:
        return False
    return (1 if f_rule == F_RELU and fmpz_sgn(num) <= 0 else bound) > f_bits[p]


cdef int activate_layer(Pass run, Worker *w, const ColumnRule *rule, fmpz_mat_struct *Z,
                        fmpz *zd, fmpz_mat_struct *H, fmpz *hd, const slong *positions,
                        slong step) noexcept nogil:
    """From a layer's Z / zd (integers over one denominator per column, row i holding
    ``positions[i]``): Z normalised and recorded at ``step``, c z^d predicted against the
    guard, H / hd = sigma(Z / zd) normalised and recorded at ``step + 1`` (read off Z's sizes
    for the identity and ReLU, whose Z moves into H)."""
    cdef int f_rule = (F_SAME if rule.code == ACT_IDENTITY else
                       F_RELU if rule.code == ACT_RELU else F_OWN)
    normalize(Z, zd, &w.fac, &w.g, &w.tmp)
    if record_rows(run, w, Z, zd, positions, step, WHAT_Z, w.bits_z, f_rule, w.bits_f):
        return BIT_LIMIT
    if rule.code == ACT_MONO and run.max_bits and predict_powers(run, w, rule, Z, zd,
                                                                 positions, step + 1):
        return BIT_LIMIT
    activate(rule, Z, zd, H, hd)
    if f_rule != F_OWN:         # Z moved into H: free it now
        empty(Z)
    normalize(H, hd, &w.fac, &w.g, &w.tmp)
    if f_rule == F_OWN and record_rows(run, w, H, hd, positions, step + 1, WHAT_F, w.bits_f,
                                       F_OWN, NULL):
        return BIT_LIMIT
    return DONE


cdef int predict_powers(Pass run, Worker *w, const ColumnRule *rule, fmpz_mat_struct *z,
                        const fmpz *zd, const slong *positions, slong step) noexcept nogil:
    """Before the powers f = c z^d of a matrix whose row i holds ``positions[i]``: BIT_LIMIT
    when some f is predicted over max_bits (power_bits_floor of its z in lowest terms), DONE
    otherwise. Products and sums need no prediction: their inputs passed the guard, so they
    cannot be much longer; a power can be d times longer. The fault is the one recording f
    would find first: an earlier f computed over (bitprop._rules.first_power_over), else
    the predicted one."""
    cdef slong i, s, k
    cdef long d = rule.degree, lower, bits
    cdef long c_bits = fmpz_bits(rule.p) + fmpz_bits(rule.q)
    for s in range(z.c):
        for i in range(z.r):
            if fmpz_is_zero(at(z, i, s)) or power_bits_floor(
                    fmpz_bits(at(z, i, s)) + fmpz_bits(zd + s), d, c_bits) <= run.max_bits:
                continue            # not over even from z's size before reducing
            factor(&w.fac, zd + s, &w.tmp)
            lower = power_bits_floor(canonical_bits(at(z, i, s), zd + s, &w.fac, &w.g,
                                                    &w.tmp), d, c_bits)
            if lower <= run.max_bits:
                continue
            k = first_power_over(rule, z, zd, s * z.r + i, run.max_bits, &w.qtmp, &w.qacc,
                                 &bits)
            if k >= 0:
                return run.mark_fault(w, positions[k % z.r], w.s0 + k // z.r, step, WHAT_F,
                                      bits)
            return run.mark_fault(w, positions[i], w.s0 + s, step, WHAT_F_PREDICTED, lower)
    return DONE


cdef void set_sum(Pass run, fmpq *q, fmpz *num, const fmpz *den, const Factored *f,
                  fmpz *g, long *bits) noexcept nogil:
    """q := num / den (num moved): in lowest terms (its bits noted in ``bits``, for
    Pass.gradient_bits), or as it is when the pass keeps its gradient sums for a later
    canonical form (Pass.gradient_sums)."""
    if run.canonical_gradients:
        set_canonical(q, num, den, f, g, True)
        bits[0] = max(bits[0], fmpq_bit_length(q))
    else:
        fmpz_swap(fmpq_numref(q), num)
        fmpz_set(fmpq_denref(q), den)


#: Gradient sums over a denominator of at least this many words take their gcds with it from
#: a remainder tree of its prime powers (_gradient_rows); below, one remainder per group of the
#: base and one valuation per shared repeated prime (gcd_with) cost less. Measured with
#: callgrind, one thread: on relu-w16-d16-q16-b64 (denominators of 710 to 735 words, 1475
#: primes) a gcd took 4.4 M instructions by groups, 3.6 M by the tree; on
#: relu-w16-d16-q8-b64 (64 to 128 words) the tree cost 3% more in all. Tests lower it.
cdef slong tree_min_words = 256


def set_tree_min_words(slong words):
    """For tests: the size from which gradient sums take the tree; returns the old one."""
    global tree_min_words
    old, tree_min_words = tree_min_words, words
    return old


cdef bint _residues_pay(Pass run, const Factored *f, int slot, slong n_l, slong n_in,
                        const fmpz *scales) noexcept nogil:
    """Whether the gradient rows of the layer that the workers shared in ``slot`` take
    their gcds with the common denominator (f readied for it) from residues by its prime
    powers (_shared_residues): where the residues of G's entries, the scales and H^T's
    entries, and their dot products, read fewer words than M's entries would (M's entries
    are read at least once per group, as residues are; their sizes are estimated from
    their factors'), and take at most 64 MiB. It reads only what every worker shares, so
    every worker gets the same answer and takes the same barriers."""
    cdef const Primes *base = f.base
    cdef slong i, j, k, s, total = 0, primes = 0
    cdef int u
    cdef long best, b, count_bits
    cdef double words_in = 0, words_out = 0
    cdef const Shared *part
    cdef const fmpz *x
    if base == NULL or not fmpz_is_one(&f.rough):       # (powers_init takes none then)
        return False
    for k in range(base.count):
        primes += f.divides[k]                          # at least the groups of powers
    if primes == 0:                                     # den a power of 2: shifts
        return False
    for u in range(run.threads):
        total += run.workers[u].shared[slot].cols
    if (<double>primes * (n_l * total + total + total * n_in + 2 * n_l * n_in)
            * sizeof(ulong) > 64 << 20):
        return False
    k = 0
    for u in range(run.threads):
        part = &run.workers[u].shared[slot]
        for s in range(part.cols):
            words_in += fmpz_size(scales + k)
            for i in range(n_l):
                words_in += fmpz_size(at(<fmpz_mat_struct *>&part.G, i, s))
            for j in range(n_in):
                words_in += fmpz_size(at(<fmpz_mat_struct *>&part.HT, s, j))
            k += 1
    words_in += <double>n_l * n_in * total + n_l * total        # a product counts a word
    count_bits, k = 0, total          # a sum of total terms is count_bits longer at most
    while k:
        count_bits += 1
        k >>= 1
    for i in range(n_l):
        for j in range(n_in):
            best, k = 0, 0
            for u in range(run.threads):
                part = &run.workers[u].shared[slot]
                for s in range(part.cols):
                    x = at(<fmpz_mat_struct *>&part.G, i, s)
                    if not fmpz_is_zero(x) and not fmpz_is_zero(
                            at(<fmpz_mat_struct *>&part.HT, s, j)):
                        b = (fmpz_bits(x) + fmpz_bits(scales + k)
                             + fmpz_bits(at(<fmpz_mat_struct *>&part.HT, s, j)))
                        best = max(best, b)
                    k += 1
            if best:
                words_out += (best + count_bits + 63) // 64
    return words_in < words_out


cdef int _shared_residues(Pass run, Worker *w, int slot, slong n_l, slong n_in,
                          const fmpz *den, const fmpz *scales, slong r0, slong rows,
                          Powers *P, ulong **res) noexcept nogil:
    """The residues of w's rows r0 .. r0 + rows of dL/dW_l = sum over samples of
    G[:, s] scale_s H^T[s, :] (over den) by the groups of den's prime powers, P (group h of
    entry (i, j) at res[h * rows * n_in + i * n_in + j]), or NULL (the caller reads M's
    entries instead). Each worker computes its own samples' share for all rows
    (_residue_share), so nothing is computed twice, and after a barrier adds up the shares
    of its rows. STOPPED when the barrier is broken off, else DONE. Every worker calls it."""
    cdef Shared *mine = &w.shared[slot]
    cdef const Shared *part
    cdef slong h, i, j, k0 = 0, groups, n = rows * n_in
    cdef int u
    cdef ulong *out
    cdef const ulong *share
    for u in range(w.index):
        k0 += run.workers[u].shared[slot].cols
    res[0] = NULL
    if powers_init(P, den, &w.fac, &w.tmp):
        mine.residues = _residue_share(P, mine, n_l, n_in, scales + k0)
    if not run.barrier(w):
        return STOPPED
    groups = P.groups
    if rows == 0 or groups == 0:
        return DONE
    for u in range(run.threads):
        if run.workers[u].shared[slot].residues == NULL:    # (a worker out of memory)
            return DONE
    out = <ulong *>calloc(groups * n + 1, sizeof(ulong))
    if out == NULL:
        return DONE
    for u in range(run.threads):
        share = run.workers[u].shared[slot].residues
        for h in range(groups):
            for i in range(rows):
                for j in range(n_in):
                    out[h * n + i * n_in + j] = add_mod(
                        out[h * n + i * n_in + j],
                        share[(h * n_l + r0 + i) * n_in + j], P.modulus[h])
    res[0] = out
    return DONE


cdef ulong *_residue_share(const Powers *P, const Shared *part, slong n_l, slong n_in,
                           const fmpz *scales) noexcept nogil:
    """Over the samples of ``part`` (scale_s = scales[s]): the residues of
    sum_s G[i, s] scale_s H^T[s, j] by the groups of P, for every row i < n_l and j < n_in
    (group h at (h * n_l + i) * n_in + j), from those of the G entries, the scales and H^T's
    entries; NULL without memory."""
    cdef slong i, j, k, h, n = part.cols, groups = P.groups
    cdef ulong *rs
    cdef ulong *ra
    cdef ulong *rh
    cdef ulong *out = <ulong *>calloc(groups * n_l * n_in + 1, sizeof(ulong))
    if out == NULL or n == 0:
        return out
    rs = <ulong *>malloc((groups * n + 1) * sizeof(ulong))
    ra = <ulong *>malloc((groups * n_l * n + 1) * sizeof(ulong))
    rh = <ulong *>malloc((groups * n_in * n + 1) * sizeof(ulong))
    if rs == NULL or ra == NULL or rh == NULL:
        free(rs); free(ra); free(rh); free(out)
        return NULL
    for k in range(n):                  # by group, then sample
        residues(rs + k, n, scales + k, P)
    for i in range(n_l):                # G scale: by group, then row: a row's n in a run
        for k in range(n):
            residues(ra + i * n + k, n_l * n, at(<fmpz_mat_struct *>&part.G, i, k), P)
    for h in range(groups):
        for i in range(n_l * n):
            ra[h * n_l * n + i] = mul_mod(ra[h * n_l * n + i], rs[h * n + i % n],
                                          P.modulus[h], P.inverse[h])
    for k in range(n):                  # H^T by group, then column
        for j in range(n_in):
            residues(rh + j * n + k, n_in * n, at(<fmpz_mat_struct *>&part.HT, k, j), P)
    for h in range(groups):
        for i in range(n_l):
            for j in range(n_in):
                out[(h * n_l + i) * n_in + j] = dot_mod(
                    ra + (h * n_l + i) * n, rh + (h * n_in + j) * n, n, P.modulus[h],
                    P.inverse[h])
    free(rs); free(ra); free(rh)
    return out


cdef void _set_pair(fmpz *p, fmpz *q, value) except *:
    """p, q := numerator and denominator of a Fraction."""
    cdef fmpq_t tmp
    fmpq_init(tmp)
    fmpq_set_fraction(tmp, value)
    fmpz_set(p, fmpq_numref(tmp))
    fmpz_set(q, fmpq_denref(tmp))
    fmpq_clear(tmp)
