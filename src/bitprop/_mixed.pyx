# cython: language_level=3, cdivision=True
"""Dense blocks inside any DAG: the scalar kernel's sweep, with every block of dense layers
(bitprop.layers.find_dense_blocks) run as integer matrix products, as in bitprop._dense.

The sweep visits positions in topological order. A block runs, on the worker's samples, when
the sweep reaches its trigger, the first position of its first layer: every input of the
block (its layer 0, all of it before that layer in the sweep: bitprop.layers makes sure)
comes earlier, every reader of its last layer later. The block's inputs are gathered over one denominator per sample, stay
integer columns through its layers, and leave as the canonical f of its last layer, which is
all that scalar vertices read. The reverse sweep runs the block backward at the same
position: every reader of its last layer has then added its share of dL/df, and the block
adds dL/df of its layer 0 into the scalar adjoints. As in a dense stack, every worker then
computes a block of rows of each layer's dL/dW and dL/db from all workers' columns, after a
barrier (every worker meets the blocks in the same order); only scalar edges are reduced.

Fault steps stay in one-thread sweep order: vertex p's are p and 2n - 1 - p times
``step_scale``, and a block's layers take the steps between its trigger's and the next.
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._plan cimport Plan, PlanData, ACT_ROUNDED
from bitprop._kernels cimport Pass, DONE, STOPPED, BIT_LIMIT
from bitprop._factored cimport Factored, factor, small_primes, set_canonical
from bitprop._dense cimport (DensePass, Columns, Shared, columns_init, columns_clear,
                             load_columns, share, release, at)


cdef class MixedPass(DensePass):
    """A Pass over any plan whose dense blocks (a DenseLayout with several ``starts``) run
    as matrix products; every other vertex runs on the scalar kernel."""

    cdef slong n_blocks
    cdef slong *block_of             # per position: its block, or -1 (block layer 0: -1)
    cdef slong *trigger              # per block: the position where it runs
    cdef slong *first                # per block + 1: its layer 0 (the next block's is the end)
    cdef char *in_block              # per edge: its gradient is set by a block
    cdef char *vertex_in_block       # per position: its bias gradient is set by a block
    cdef Columns *columns            # per worker: every block's layer values
    cdef slong *barriers             # per worker: barriers passed (they pick the shared slots)

    def __init__(self, Plan plan, inputs, labels=None, scales=None, loss=None, *, layout,
                 weights=None, **options):
        DensePass.__init__(self, plan, inputs, labels, scales, loss, layout=layout,
                           weights=weights)
        cdef slong b, l, p
        starts = list(layout.starts) + [len(layout.layers)]
        self.n_blocks = len(layout.starts)
        self.block_of = <slong *>calloc(plan.d.n + 1, sizeof(slong))
        self.trigger = <slong *>calloc(self.n_blocks + 1, sizeof(slong))
        self.first = <slong *>calloc(self.n_blocks + 2, sizeof(slong))
        self.in_block = <char *>calloc(plan.d.n_edges + 1, 1)
        self.vertex_in_block = <char *>calloc(plan.d.n + 1, 1)
        self.columns = <Columns *>calloc(self.threads, sizeof(Columns))
        self.barriers = <slong *>calloc(self.threads, sizeof(slong))
        if (self.block_of == NULL or self.trigger == NULL or self.first == NULL or
                self.in_block == NULL or self.vertex_in_block == NULL or
                self.columns == NULL or self.barriers == NULL):
            raise MemoryError()
        for e in layout.flat_edge_ids:
            if e >= 0:
                self.in_block[e] = 1
        for p in range(plan.d.n):
            self.block_of[p] = -1
        for b in range(self.n_blocks + 1):
            self.first[b] = starts[b]
        for b in range(self.n_blocks):
            self.trigger[b] = min(layout.layers[starts[b] + 1])
            if max(layout.layers[starts[b]]) >= self.trigger[b]:
                raise ValueError(f"dense block {b} would run before its input layer")
            for l in range(starts[b] + 1, starts[b + 1]):
                for p in layout.layers[l]:
                    self.block_of[p] = b
                    self.vertex_in_block[p] = 1
        self.step_scale = 2 * max(starts[b + 1] - starts[b] for b in range(self.n_blocks)) + 1

    def __dealloc__(self):
        free(self.block_of); free(self.trigger); free(self.first); free(self.in_block)
        free(self.vertex_in_block)
        free(self.columns); free(self.barriers)

    cdef bint _smooth(self, unsigned int *mask, fmpz *tmp) noexcept:
        """Scalar vertices bring their own denominators: every weight, bias sum and
        activation parameter of the plan, and 2 for rounding to k bits."""
        cdef PlanData *plan = &self.plan.d
        cdef bint smooth = DensePass._smooth(self, mask, tmp)
        cdef slong i
        cdef fmpz_t two
        for i in range(plan.n_edges):
            if not small_primes(fmpq_denref(plan.weight + i), mask, tmp):
                smooth = False
        for i in range(plan.n):
            if not small_primes(fmpq_denref(plan.bias_sum + i), mask, tmp):
                smooth = False
        for i in range(plan.pool_len):
            if not small_primes(fmpq_denref(plan.pool + i), mask, tmp):
                smooth = False
        for i in range(plan.n_acts):
            if plan.act_code[i] == ACT_ROUNDED:
                fmpz_init(two)
                fmpz_set_ui(two, 2)
                small_primes(two, mask, tmp)
                fmpz_clear(two)
        return smooth

    def reduce_gradients(self):
        """Sum the workers' accumulators of scalar edges and vertices into thread 0's (the
        blocks' rows are set there once, from all samples)."""
        self._reduce(self.in_block, self.vertex_in_block)

    def gradient_bits(self):
        return Pass.gradient_bits(self)

    # --- the worker --------------------------------------------------------------------------
    cdef int _work(self, int t) noexcept nogil:
        """The scalar sweep, with this worker's block columns alive for its duration."""
        cdef slong s0 = self.S * t // self.threads, s1 = self.S * (t + 1) // self.threads
        cdef int result
        if not columns_init(self.columns + t, self.width, self.L + 1, s1 - s0):
            self._leave(t, STOPPED)     # nobody waits for this worker at a barrier
            return STOPPED
        result = Pass._work(self, t)
        self._leave(t, result)          # frees t's shared slots once nobody reads them
        columns_clear(self.columns + t)
        return result

    cdef int _forward_vertex(self, int t, slong p, slong s0, slong s1, fmpz *q,
                             fmpz *r) noexcept nogil:
        cdef slong b = self.block_of[p], s
        cdef int result = DONE
        if b < 0:
            return Pass._forward_vertex(self, t, p, s0, s1, q, r)
        if p == self.trigger[b]:
            result = self._block_forward(t, b, s0, q, r)
        if result == DONE and not self.backward:
            for s in range(s0, s1):
                self._forget(p, s)
        return result

    cdef int _backward_vertex(self, int t, slong p, slong s0, slong s1, fmpq *gz, fmpq *d,
                              fmpz *q, fmpz *r) noexcept nogil:
        cdef slong b = self.block_of[p]
        if b < 0:
            return Pass._backward_vertex(self, t, p, s0, s1, gz, d, q, r)
        if p == self.trigger[b]:
            return self._block_backward(t, b, s0, gz, q, r)
        return DONE

    cdef int _block_forward(self, int t, slong b, slong s0, fmpz *g, fmpz *tmp) noexcept nogil:
        """Block b on the worker's samples: layer 0 gathered from the scalar f's, its layers
        as matrix products, the last layer's f written back in canonical form."""
        cdef Columns *c = self.columns + t
        cdef slong l0 = self.first[b], last = self.first[b + 1] - 1, l, i, s
        cdef slong step = self.trigger[b] * self.step_scale
        load_columns(c.H + l0, c.hd[l0], self.F + s0, self.pos + self.pos_off[l0], self.S, 1,
                     tmp)
        for l in range(l0 + 1, last + 1):
            if self.stop:
                return STOPPED
            if self._forward_layer(t, l, step + 2 * (l - l0) - 1, c, g, tmp):
                return BIT_LIMIT
        for s in range(c.cols):
            if self.fac[t].exact:
                factor(self.fac + t, c.hd[last] + s)
            for i in range(self.width[last]):
                set_canonical(self.F + self.pos[self.pos_off[last] + i] * self.S + s0 + s,
                              at(c.H + last, i, s), c.hd[last] + s, self.fac + t, g, False)
        if not self.backward:       # nothing reads the block's columns again
            for l in range(l0, last + 1):
                fmpz_mat_clear(c.H + l); fmpz_mat_init(c.H + l, 0, 0)
                fmpz_mat_clear(c.Z + l); fmpz_mat_init(c.Z + l, 0, 0)
        return DONE

    cdef int _block_backward(self, int t, slong b, slong s0, fmpq *gz, fmpz *g,
                             fmpz *tmp) noexcept nogil:
        """Block b backward: dL/df of its last layer gathered from the scalar adjoints, each
        layer's adjoints, then (after a barrier) this worker's rows of its gradients from all
        samples, and dL/df of layer 0 added to the scalar adjoints."""
        cdef Columns *c = self.columns + t
        cdef PlanData *plan = &self.plan.d
        cdef slong l0 = self.first[b], last = self.first[b + 1] - 1, l, i, s, p, n_l, r0
        cdef slong step = (2 * plan.n - 1 - self.trigger[b]) * self.step_scale
        cdef fmpz_mat_struct G
        cdef fmpz *gd = _fmpz_vec_init(c.cols + 1)
        cdef Shared *mine
        cdef int result = DONE
        fmpz_mat_init(&G, self.width[last], c.cols)
        load_columns(&G, gd, self.GF + s0, self.pos + self.pos_off[last], self.S, 1, tmp)
        for i in range(self.width[last]):      # every reader of the last layer is done
            p = self.pos[self.pos_off[last] + i]
            for s in range(s0, s0 + c.cols):
                fmpq_zero(self.F + p * self.S + s)
                fmpq_zero(self.GF + p * self.S + s)
        for l in range(last, l0, -1):
            if self.stop:
                result = STOPPED
                break
            # ReLU's signs: H_last, or H_l moved (transposed) into layer l + 1's slot
            if self._adjoint(t, l, step + last - l, c,
                             c.H + l if l == last else &self._slot(t, self.barriers[t] - 1).HT,
                             l != last, &G, gd, g, tmp):
                result = BIT_LIMIT
                break
            mine = self._slot(t, self.barriers[t])
            share(mine, &G, gd, c.H + l - 1, c.hd[l - 1], c.cols)  # G and gd now are mine's
            fmpz_mat_init(&G, self.width[l - 1], c.cols)
            gd = _fmpz_vec_init(c.cols + 1)
            self.barriers[t] += 1
            if not self._barrier(self.barriers[t]):
                result = STOPPED
                break
            release(self._slot(t, self.barriers[t] - 2))    # every worker has read it
            n_l = self.width[l]
            r0 = n_l * t // self.threads
            self._gradient_rows(t, l, self._slot(0, self.barriers[t] - 1), self.threads, r0,
                                n_l * (t + 1) // self.threads - r0, self.grad_w, self.grad_z,
                                g, tmp)
            self._propagate(t, l, &G, gd, mine, g, tmp)
            fmpz_mat_clear(c.Z + l); fmpz_mat_init(c.Z + l, 0, 0)   # not read again
        if result == DONE:
            self._add_adjoints(t, l0, s0, &G, gd, gz, g)
        fmpz_mat_clear(&G)
        _fmpz_vec_clear(gd, c.cols + 1)
        return result

    cdef Shared *_slot(self, int u, slong k) noexcept nogil:
        """Worker u's slot for what it shares before barrier k + 1: two slots a worker, one
        read by everyone while the other is written (k & 1 is 1 for k = -1: never live)."""
        return self.shared + (k & 1) * self.threads + u

    cdef void _add_adjoints(self, int t, slong l, slong s0, fmpz_mat_struct *G, fmpz *gd,
                            fmpq *value, fmpz *g) noexcept nogil:
        """dL/df of layer l's vertices += G / gd, per sample."""
        cdef slong i, s
        cdef fmpq *adjoint
        for s in range(G.c):
            if self.fac[t].exact:
                factor(self.fac + t, gd + s)
            for i in range(G.r):
                if fmpz_is_zero(at(G, i, s)):
                    continue
                set_canonical(value, at(G, i, s), gd + s, self.fac + t, g, False)
                adjoint = self.GF + self.pos[self.pos_off[l] + i] * self.S + s0 + s
                fmpq_add(adjoint, adjoint, value)
