# cython: language_level=3, cdivision=True
"""The kernel of a network that is a stack of dense layers (bitprop.layers.find_dense_layout):
one dense block from the inputs to the outputs, run by the dense-block engine.

Each worker loads its samples' inputs as layer 0's columns, runs the layers forward, puts its
outputs in canonical form, adds their loss, and runs the layers backward from the loss's
seeds. Every gradient entry is set once, from all samples (DenseEngine._gradient_rows).
For the bit-limit fault the stack is one block at position 0 of a one-position sweep.
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._plan cimport Plan
from bitprop._pass cimport (Pass, Kernel, Worker, DONE, STOPPED, BIT_LIMIT, WHAT_F,
                            monotonic_now, sweep_step)
from bitprop._columns cimport Columns, at, load_columns, columns_clear
from bitprop._factored cimport set_canonical
from bitprop._codes cimport LOSS_SQUARE
from bitprop._dense cimport DenseEngine, DenseWeights, F_OWN


cdef class StackKernel(Kernel):
    """A Kernel over a dense stack: ``layout`` a DenseLayout, ``weights`` the DenseWeights
    of an earlier pass over the same plan (or None)."""

    cdef DenseEngine engine
    cdef slong *out_row             # per output coordinate: its row in the last layer
    cdef slong n_outputs

    def __cinit__(self, Plan plan, layout, DenseWeights weights=None):
        self.rows_only = True
        self.n_outputs = plan.d.n_outputs
        self.out_row = <slong *>calloc(self.n_outputs + 1, sizeof(slong))
        if self.out_row == NULL:
            raise MemoryError()

    def __init__(self, Plan plan, layout, DenseWeights weights=None):
        self.engine = DenseEngine(plan, layout, weights)
        for o, row in enumerate(layout.output_rows):
            self.out_row[o] = row

    def __dealloc__(self):
        free(self.out_row)

    @property
    def weights(self):
        return self.engine.weights

    cdef void prepare(self, Pass run) except *:
        self.engine.prepare(run)

    cdef int work(self, Pass run, Worker *w) noexcept nogil:
        """Forward and backward over w's samples (its columns)."""
        cdef int result
        if not self.engine.start(run, w):
            return STOPPED
        w.t_start = monotonic_now()
        result = self._forward(run, w)
        w.t_forward = monotonic_now()
        if result == DONE:
            result = self._outputs_and_backward(run, w)
        w.t_end = monotonic_now()
        self.engine.leave(run, w, result)
        columns_clear(&w.columns)
        return result

    cdef int _forward(self, Pass run, Worker *w) noexcept nogil:
        cdef Columns *c = &w.columns
        cdef slong n_in = run.plan.d.n_inputs
        load_columns(c.H, c.hd[0], run.X + w.s0 * n_in, NULL, 1, n_in, &w.tmp)
        if self.engine.record(run, w, 0, sweep_step(1, 0, False, 2 * self.engine.L + 1, 0),
                              c.H, c.hd[0], WHAT_F, w.bits_f, F_OWN, NULL):
            return BIT_LIMIT
        w.done += self.engine.width[0]
        return self.engine.forward_layers(run, w, 0, self.engine.L,
                                          sweep_step(1, 0, False, 2 * self.engine.L + 1, 0))

    cdef int _outputs_and_backward(self, Pass run, Worker *w) noexcept nogil:
        """Canonical outputs and the loss; with backward, dL/df of the last layer from the
        loss's seeds, over one denominator per sample, and the layers backward."""
        cdef Columns *c = &w.columns
        cdef slong L = self.engine.L, s, o, sample, n_out = self.n_outputs, cols = c.cols
        cdef fmpz_mat_struct G
        cdef fmpz *gd = _fmpz_vec_init(cols + 1)
        cdef int result = DONE
        fmpz_mat_init(&G, self.engine.width[L] if run.backward else 0, cols)
        for s in range(cols):
            sample = w.s0 + s
            self.engine.column_ready(w, c.hd[L] + s)
            for o in range(n_out):
                set_canonical(run.outputs + sample * n_out + o, at(c.H + L, self.out_row[o], s),
                              c.hd[L] + s, &w.fac, &w.g, False)
            if run.has_labels and run.loss_code == LOSS_SQUARE and n_out > 1:
                self._square_loss(run, w, s, &G, gd + s)
                continue
            if run.has_labels:
                run.sample_loss(w, sample)
            if run.backward:
                _seed_column(&G, gd + s, s, w.seed, self.out_row, n_out, &w.tmp)
        if run.backward:
            result = self.engine.backward_layers(
                run, w, 0, L, sweep_step(1, 0, True, 2 * L + 1, 0), &G, &gd, False)
            if result == DONE:
                w.done += self.engine.width[0]
        fmpz_mat_clear(&G)
        _fmpz_vec_clear(gd, cols + 1)
        return result

    cdef void _square_loss(self, Pass run, Worker *w, slong s, fmpz_mat_struct *G,
                           fmpz *gd) noexcept nogil:
        """Column s's square loss, scale_s sum_o (f_o - y_o)^2, added to w.loss and, with
        backward, its seeds scale_s 2 (f_o - y_o) as column s of G over gd, all from the
        integer column f_o = H[o] / h over one denominator: with B the labels' lcm,
        f_o - y_o = T_o / (h B), T_o = H[o] B - y_o B h. One gcd puts the loss in lowest
        terms; the seeds take none (the adjoint normalises its column). Pass.sample_loss
        would take several Euclids of the outputs' size per output. With one output it is
        not taken: there Pass.sample_loss squares a difference already in lowest terms,
        where this gcd would be a Euclid of twice the output's size (chain-sq-d20, an output
        of 9 M bits: 0.42 s a pass, against 0.62 s by this one)."""
        cdef Columns *c = &w.columns
        cdef slong o, L = self.engine.L, n_out = self.n_outputs
        cdef const fmpq *y = run.Y + (w.s0 + s) * n_out
        cdef const fmpq *scale = run.scale + w.s0 + s
        cdef const fmpz *h = c.hd[L] + s
        cdef fmpz *b = &w.q                 # B, then h B
        cdef fmpz *t = &w.r                 # T_o
        cdef fmpz *tmp = &w.tmp
        cdef fmpq *acc = &w.qacc
        fmpz_one(b)
        for o in range(n_out):
            fmpz_lcm(b, b, fmpq_denref(y + o))
        fmpz_zero(fmpq_numref(acc))
        for o in range(n_out):
            fmpz_divexact(tmp, b, fmpq_denref(y + o))
            fmpz_mul(tmp, tmp, fmpq_numref(y + o))
            fmpz_mul(tmp, tmp, h)
            fmpz_mul(t, at(c.H + L, self.out_row[o], s), b)
            fmpz_sub(t, t, tmp)
            fmpz_addmul(fmpq_numref(acc), t, t)
            if run.backward:                # G[o] = 2 scale_num T_o over scale_den h B
                fmpz_mul(at(G, self.out_row[o], s), t, fmpq_numref(scale))
                fmpz_mul_2exp(at(G, self.out_row[o], s), at(G, self.out_row[o], s), 1)
        fmpz_mul(b, b, h)
        if run.backward:
            fmpz_mul(gd, b, fmpq_denref(scale))
        fmpz_mul(fmpq_denref(acc), b, b)
        fmpq_canonicalise(acc)
        fmpq_addmul(&w.loss, scale, acc)


cdef void _seed_column(fmpz_mat_struct *G, fmpz *den, slong s, const fmpq *seed,
                       const slong *row, slong n, fmpz *tmp) noexcept nogil:
    """Column s of G over den := seed[o] in row[o], for o < n."""
    cdef slong o
    fmpz_one(den)
    for o in range(n):
        fmpz_lcm(den, den, fmpq_denref(seed + o))
    for o in range(n):
        fmpz_divexact(tmp, den, fmpq_denref(seed + o))
        fmpz_mul(at(G, row[o], s), fmpq_numref(seed + o), tmp)
