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
