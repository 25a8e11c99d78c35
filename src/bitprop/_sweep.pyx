# cython: language_level=3, cdivision=True
"""The sweep kernel: positions in topological order, one vertex at a time on scalar FLINT
rationals, with any dense blocks run by the dense-block engine.

Values are vertex-major (entry ``p * S + s``): pre-activations Z, values F, adjoints
GF = dL/df. Forward records what backward needs (Z and F); backward walks the same order in
reverse and releases each vertex's values as soon as no later step reads them. A forward pass
alone frees every f once its last reader is done.

Dense blocks (bitprop.layers.find_dense_blocks) run on the worker's samples when the sweep
reaches their trigger, the first position of their first layer: every input of the block
(its layer 0, all of it before that layer in the sweep: bitprop.layers makes sure) comes
earlier, every reader of its last layer later. The block's inputs are gathered over one
denominator per sample, stay integer columns through its layers, and leave as the canonical
f of its last layer, which is all that scalar vertices read. The reverse sweep runs the block
backward at the same position: every reader of its last layer has then added its share of
dL/df, and the block adds dL/df of its layer 0 into the scalar adjoints. Sparse blocks
(bitprop._sparse) run the same way, level by level. Every worker meets the blocks in the same
order, so their barriers (one per sparse level, one or two per dense layer by a rule every
worker evaluates alike; Pass.barrier) match; only scalar edges are summed over workers
afterwards.

Fault steps (sweep_step): position p's values at p and 2n - 1 - p, times ``step_scale``, one
more than twice the longest block's layers, so that a block's layers fit between its
trigger's step and the next position's.
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._plan cimport *
from bitprop._codes cimport *
from bitprop._pass cimport (Pass, Kernel, Worker, DONE, STOPPED, BIT_LIMIT, WHAT_Z, WHAT_F,
                            WHAT_ADJOINT, WHAT_F_PREDICTED, WHAT_F_PARTIAL,
                            WHAT_DERIVATIVE_PARTIAL, monotonic_now, sweep_step,
                            power_bits_floor)
from bitprop._columns cimport Columns, at, empty, load_columns, columns_clear
from bitprop._factored cimport set_canonical
from bitprop._dense cimport DenseEngine, DenseWeights
from bitprop._sparse cimport SparseBlocks, BlockState
from bitprop._convert cimport fmpq_get_fraction, fmpq_bit_length


# --- activations: value and backprop rule ------------------------------------------------
#
# The max_bits guard speaks before the damage: a power c z^d is predicted before it is
# computed (power_bits_floor, by the kernel), and Horner stops at the first partial sum over
# the limit, so no step builds much more than the limit (each multiplies a partial sum within
# it by a z that passed its own guard). Sums and products of guarded values are at most a
# bit longer than the two together: bounded, so they are checked after. A rounded
# activation's inner power is not predicted: rounding and clipping may make it small.

cdef void _round_to_bits(fmpq *x, slong k, bint nearest, fmpz *q, fmpz *r) noexcept nogil:
    """x := x rounded to a multiple of 2^-k (floor, or nearest with ties to even)."""
    cdef fmpz *den = fmpq_denref(x)
    cdef slong twos = fmpz_val2(den)
    if <slong>fmpz_bits(den) - 1 == twos and twos <= k:   # already a multiple of 2^-k
        return
    fmpz_mul_2exp(q, fmpq_numref(x), k)
    fmpz_fdiv_qr(q, r, q, den)
    if nearest:
        fmpz_mul_2exp(r, r, 1)
        twos = fmpz_cmp(r, den)
        if twos > 0 or (twos == 0 and not fmpz_is_even(q)):
            fmpz_add_ui(q, q, 1)
    fmpz_set(fmpq_numref(x), q)
    fmpz_one(fmpq_denref(x))
    fmpq_div_2exp(x, x, k)


cdef long _activate(const PlanData *plan, int a, fmpq *out, const fmpq *z, fmpz *q, fmpz *r,
                    long limit) noexcept nogil:
    """out := sigma_a(z)  (out and z never alias); 0, or the bits of a Horner partial sum
    over ``limit`` (> 0), where it stopped."""
    cdef slong off = plan.act_off[a], length = plan.act_len[a], i
    cdef int code = plan.act_code[a]
    cdef fmpq *c = plan.pool + off
    if code == ACT_IDENTITY:
        fmpq_set(out, z)
    elif code == ACT_RELU:
        if fmpq_sgn(z) > 0:
            fmpq_set(out, z)
        else:
            fmpq_zero(out)
    elif code == ACT_LEAKY:
        if fmpq_sgn(z) > 0:
            fmpq_set(out, z)
        else:
            fmpq_mul(out, c, z)
    elif code == ACT_MONO:     # c z^d: numerator and denominator powered, still coprime
        fmpz_pow_ui(fmpq_numref(out), fmpq_numref(z), plan.act_bits[a])
        fmpz_pow_ui(fmpq_denref(out), fmpq_denref(z), plan.act_bits[a])
        if not fmpq_is_one(c):
            fmpq_mul(out, out, c)
    elif code == ACT_POLY:     # Horner
        fmpq_set(out, c + length - 1)
        for i in range(length - 2, -1, -1):
            fmpq_mul(out, out, z)
            fmpq_add(out, out, c + i)
            if limit and i and fmpq_bit_length(out) > limit:
                return fmpq_bit_length(out)
    elif code == ACT_PWL:
        i = _piece(c, length, z)
        fmpq_mul(out, c + length + i, z)
        fmpq_add(out, out, c + 2 * length + 1 + i)
    else:                      # ACT_ROUNDED
        i = _activate(plan, plan.act_inner[a], out, z, q, r, limit)
        if i:
            return i
        _round_to_bits(out, plan.act_bits[a], plan.act_flags[a] & ROUND_NEAREST, q, r)
        if plan.act_flags[a] & ROUND_CLIP:
            if fmpq_cmp(out, c) < 0:
                fmpq_set(out, c)
            elif fmpq_cmp(out, c + 1) > 0:
                fmpq_set(out, c + 1)
    return 0


cdef inline slong _piece(const fmpq *breakpoints, slong m, const fmpq *z) noexcept nogil:
    """Index i of the piece b_i < z <= b_(i+1) (binary search over m breakpoints)."""
    cdef slong lo = 0, hi = m, mid
    while lo < hi:                 # first breakpoint >= z
        mid = (lo + hi) // 2
        if fmpq_cmp(breakpoints + mid, z) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef long _derivative(const PlanData *plan, int a, fmpq *out, const fmpq *z, fmpz *q, fmpz *r,
                      long limit) noexcept nogil:
    """out := the backprop rule sigma_a'(z) of docs/formats.md ("Activations"); 0, or the
    bits of a Horner partial sum over ``limit`` (> 0), where it stopped. (A power's
    derivative needs no prediction: f = c z^d passed its guard, and d c z^(d-1) is not
    longer than f and z together.)"""
    cdef slong off = plan.act_off[a], length = plan.act_len[a], i
    cdef int code = plan.act_code[a]
    cdef fmpq *c = plan.pool + off
    if code == ACT_IDENTITY:
        fmpq_one(out)
    elif code == ACT_RELU:
        if fmpq_sgn(z) > 0:
            fmpq_one(out)
        else:
            fmpq_zero(out)
    elif code == ACT_LEAKY:
        if fmpq_sgn(z) > 0:
            fmpq_one(out)
        else:
            fmpq_set(out, c)
    elif code == ACT_MONO:     # d c z^(d-1)
        fmpz_pow_ui(fmpq_numref(out), fmpq_numref(z), plan.act_bits[a] - 1)
        fmpz_pow_ui(fmpq_denref(out), fmpq_denref(z), plan.act_bits[a] - 1)
        fmpq_mul(out, out, c + 1)
    elif code == ACT_POLY:     # Horner over the stored i c_i
        if length == 1:
            fmpq_zero(out)
            return 0
        fmpq_set(out, c + 2 * length - 2)
        for i in range(2 * length - 3, length - 1, -1):
            fmpq_mul(out, out, z)
            fmpq_add(out, out, c + i)
            if limit and i > length and fmpq_bit_length(out) > limit:
                return fmpq_bit_length(out)
    elif code == ACT_PWL:
        fmpq_set(out, c + length + _piece(c, length, z))
    elif plan.act_flags[a] & ROUND_BACKWARD_ZERO:
        fmpq_zero(out)
    else:                      # straight-through: inner'(z) rounded to k bits
        i = _derivative(plan, plan.act_inner[a], out, z, q, r, limit)
        if i:
            return i
        _round_to_bits(out, plan.act_bits[a], plan.act_flags[a] & ROUND_NEAREST, q, r)
    return 0


# --- the kernel --------------------------------------------------------------------------

cdef class SweepKernel(Kernel):
    """A Kernel over any plan; ``layout``: a DenseLayout of dense blocks to run as matrix
    products (several ``starts``), or None; ``weights``: the blocks' DenseWeights from an
    earlier pass over the same plan; ``sparse``: SparseBlocks to run level by level, or None.
    Without either, one vertex at a time everywhere."""

    cdef Plan plan
    cdef DenseEngine blocks
    cdef slong n_blocks
    cdef slong *block_of             # per position: its block, or -1 (block layer 0: -1)
    cdef slong *trigger              # per block: the position where it runs
    cdef slong *first                # per block + 1: its layer 0 (the next block's is the end)
    cdef SparseBlocks sparse
    cdef slong *sparse_of            # per position: its sparse block, or -1
    cdef slong *sparse_trigger       # per sparse block: the position where it runs
    cdef BlockState *states          # per worker and sparse block (prepare)
    cdef int n_states
    cdef slong step_scale
    cdef fmpq *Z
    cdef fmpq *F
    cdef fmpq *GF
    cdef slong n_values, n_adjoints

    def __cinit__(self, Plan plan, layout=None, DenseWeights weights=None,
                  SparseBlocks sparse=None):
        cdef slong p
        self.plan = plan
        self.step_scale = 1
        self.block_of = <slong *>calloc(plan.d.n + 1, sizeof(slong))
        self.sparse_of = <slong *>calloc(plan.d.n + 1, sizeof(slong))
        self.edge_set_once = <char *>calloc(plan.d.n_edges + 1, 1)
        self.vertex_set_once = <char *>calloc(plan.d.n + 1, 1)
        if (self.block_of == NULL or self.sparse_of == NULL or self.edge_set_once == NULL
                or self.vertex_set_once == NULL):
            raise MemoryError()
        for p in range(plan.d.n):
            self.block_of[p] = -1
            self.sparse_of[p] = -1

    def __init__(self, Plan plan, layout=None, DenseWeights weights=None,
                 SparseBlocks sparse=None):
        if layout is not None:
            self._add_blocks(layout, weights)
        if sparse is not None:
            self._add_sparse(sparse)

    def _add_sparse(self, SparseBlocks sparse):
        cdef slong b, p
        self.sparse = sparse
        self.sparse_trigger = <slong *>calloc(sparse.n_blocks + 1, sizeof(slong))
        if self.sparse_trigger == NULL:
            raise MemoryError()
        for b in range(sparse.n_blocks):
            self.sparse_trigger[b] = sparse.trigger(b)
        # their gradient rows are set once (bitprop._sparse); no position is in two blocks
        p = sparse.mark(self.sparse_of, self.vertex_set_once, self.edge_set_once)
        if p >= 0:
            raise ValueError(f"position {p} is in two sparse blocks")
        for p in range(self.plan.d.n):
            if self.block_of[p] >= 0 and self.sparse_of[p] >= 0:
                raise ValueError(f"position {p} is in a dense and a sparse block")
        self.step_scale = max(self.step_scale, 2 * sparse.most_levels - 1)

    def _add_blocks(self, layout, DenseWeights weights):
        cdef slong b, l, p
        cdef PlanData *plan = &self.plan.d
        starts = list(layout.starts) + [len(layout.layers)]
        self.blocks = DenseEngine(self.plan, layout, weights)
        self.n_blocks = len(layout.starts)
        self.trigger = <slong *>calloc(self.n_blocks + 1, sizeof(slong))
        self.first = <slong *>calloc(self.n_blocks + 2, sizeof(slong))
        if self.trigger == NULL or self.first == NULL:
            raise MemoryError()
        for e in layout.flat_edge_ids:
            if e >= 0:
                self.edge_set_once[e] = 1
        for b in range(self.n_blocks + 1):
            self.first[b] = starts[b]
        for b in range(self.n_blocks):
            self.trigger[b] = min(layout.layers[starts[b] + 1])
            if max(layout.layers[starts[b]]) >= self.trigger[b]:
                raise ValueError(f"dense block {b} would run before its input layer")
            for l in range(starts[b] + 1, starts[b + 1]):
                for p in layout.layers[l]:
                    self.block_of[p] = b
                    self.vertex_set_once[p] = 1
        self.step_scale = 2 * max(starts[b + 1] - starts[b] for b in range(self.n_blocks)) + 1

    def __dealloc__(self):
        if self.Z != NULL:
            _fmpq_vec_clear(self.Z, self.n_values + 1)
            _fmpq_vec_clear(self.F, self.n_values + 1)
            _fmpq_vec_clear(self.GF, self.n_adjoints + 1)
        self._clear_states()
        free(self.block_of); free(self.trigger); free(self.first)
        free(self.edge_set_once); free(self.vertex_set_once)
        free(self.sparse_of); free(self.sparse_trigger)

    cdef void _clear_states(self) noexcept nogil:
        cdef int k
        for k in range(self.n_states):
            columns_clear(&self.states[k].values)
            columns_clear(&self.states[k].adjoint)
        free(self.states)
        self.states = NULL
        self.n_states = 0

    @property
    def weights(self):
        """The blocks' DenseWeights (None without blocks)."""
        return None if self.blocks is None else self.blocks.weights

    cdef void prepare(self, Pass run) except *:
        self.n_values = self.plan.d.n * run.S
        self.n_adjoints = self.n_values if run.backward else 0
        self.Z = _fmpq_vec_init(self.n_values + 1)
        self.F = _fmpq_vec_init(self.n_values + 1)
        self.GF = _fmpq_vec_init(self.n_adjoints + 1)
        if self.blocks is not None:
            self.blocks.prepare(run)
        elif self.sparse is not None:
            run.use_primes(self.sparse.primes)
        if self.sparse is not None:
            self._clear_states()
            self.n_states = run.threads * self.sparse.n_blocks
            self.states = <BlockState *>calloc(self.n_states + 1, sizeof(BlockState))
            if self.states == NULL:
                raise MemoryError()

    cdef int work(self, Pass run, Worker *w) noexcept nogil:
        """Forward over every position, outputs and loss, backward over every position in
        reverse; with blocks, w's block columns are alive for the whole sweep."""
        cdef slong p, n = self.plan.d.n
        cdef int result = DONE
        if self.n_blocks and not self.blocks.start(run, w):
            return STOPPED
        w.t_start = monotonic_now()
        for p in range(n):
            result = self._forward_position(run, w, p)
            if result != DONE:
                break
        w.t_forward = monotonic_now()
        if result == DONE:
            self._outputs_and_loss(run, w)
        if result == DONE and run.backward:
            for p in range(n - 1, -1, -1):
                result = self._backward_position(run, w, p)
                if result != DONE:
                    break
        w.t_end = monotonic_now()
        if self.n_blocks:
            self.blocks.leave(run, w, result)   # frees w's shared slots once nobody reads them
            columns_clear(&w.columns)
        elif self.sparse is not None:
            run.leave(w, result)                # others may read w's block states until then
        if self.sparse is not None:
            for p in range(self.sparse.n_blocks):
                columns_clear(&self._state(w, p).values)
                columns_clear(&self._state(w, p).adjoint)
        return result

    cdef inline BlockState *_state(self, Worker *w, slong b) noexcept nogil:
        return self.states + w.index * self.sparse.n_blocks + b

    cdef int _forward_position(self, Pass run, Worker *w, slong p) noexcept nogil:
        cdef slong b = self.block_of[p], sb = self.sparse_of[p], s
        cdef int result = DONE
        if b < 0 and sb < 0:
            result = self._each_sample(run, w, p, False)
            w.done += result == DONE
            return result
        if b >= 0 and p == self.trigger[b]:
            result = self._block_forward(run, w, b)
        elif sb >= 0 and p == self.sparse_trigger[sb]:
            result = self.sparse.forward(run, w, sb, self._state(w, sb), self.F, sweep_step(
                self.plan.d.n, p, False, self.step_scale, 0))
        if result == DONE and not run.backward:
            for s in range(w.s0, w.s1):
                self._forget(run, p, s)
        return result

    cdef int _backward_position(self, Pass run, Worker *w, slong p) noexcept nogil:
        cdef slong b = self.block_of[p], sb = self.sparse_of[p]
        cdef int result = DONE
        if b < 0 and sb < 0:
            result = self._each_sample(run, w, p, True)
            w.done += result == DONE
        elif b >= 0 and p == self.trigger[b]:
            result = self._block_backward(run, w, b)
        elif sb >= 0 and p == self.sparse_trigger[sb]:
            result = self.sparse.backward(run, w, sb, self.states + sb,
                                          self.sparse.n_blocks, self.F, self.GF,
                                          sweep_step(self.plan.d.n, p, True, self.step_scale, 0))
        return result

    cdef int _each_sample(self, Pass run, Worker *w, slong p, bint backward) noexcept nogil:
        """Vertex p forward or backward on each of w's samples, the stop flag polled."""
        cdef slong s, step = sweep_step(self.plan.d.n, p, backward, self.step_scale, 0)
        cdef int result
        for s in range(w.s0, w.s1):
            if run.stop:
                return STOPPED
            result = (self._backward_vertex(run, w, p, s, step) if backward else
                      self._forward_vertex(run, w, p, s, step))
            if result != DONE:
                return result
        return DONE

    # --- one vertex --------------------------------------------------------------------
    cdef int _forward_vertex(self, Pass run, Worker *w, slong p, slong s,
                             slong step) noexcept nogil:
        """z_p and f_p of sample s."""
        cdef PlanData *plan = &self.plan.d
        cdef slong S = run.S, k, e
        cdef slong slot = plan.input_slot[p]
        cdef int a = plan.vertex_act[p]
        cdef fmpq *z = self.Z + p * S + s
        cdef fmpq *f = self.F + p * S + s
        cdef fmpq *fu
        cdef long partial
        if a < 0:           # a source: f = x
            fmpq_set(f, run.X + s * plan.n_inputs + slot)
        else:               # z = sum (w f_u + b) [+ x]; f = sigma(z)
            fmpq_set(z, plan.bias_sum + p)
            if slot >= 0:
                fmpq_add(z, z, run.X + s * plan.n_inputs + slot)
            for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
                e = plan.in_edge[k]
                fu = self.F + plan.edge_src[e] * S + s
                if not fmpq_is_zero(fu) and not fmpq_is_zero(plan.weight + e):
                    fmpq_addmul(z, plan.weight + e, fu)
            if run.guard(w, p, s, step, WHAT_Z, z, w.bits_z + p):
                return BIT_LIMIT
            if plan.act_code[a] == ACT_MONO and not fmpq_is_zero(z) and run.over(
                    w, p, s, step, WHAT_F_PREDICTED, power_bits_floor(
                        fmpq_bit_length(z), plan.act_bits[a],
                        fmpq_bit_length(plan.pool + plan.act_off[a]))):
                return BIT_LIMIT
            partial = _activate(plan, a, f, z, &w.q, &w.r, run.max_bits)
            if partial:
                return run.mark_fault(w, p, s, step, WHAT_F_PARTIAL, partial)
        if run.guard(w, p, s, step, WHAT_F, f, w.bits_f + p):
            return BIT_LIMIT
        if not run.keep_all and not run.backward:
            fmpq_zero(z)    # forward only: z is not needed again
            self._forget(run, p, s)
        return DONE

    cdef void _forget(self, Pass run, slong p, slong s) noexcept nogil:
        """Forward only, once vertex p of sample s is done: free f_p if nothing reads it, and
        f_u for every u whose last reader is p."""
        cdef PlanData *plan = &self.plan.d
        cdef slong k, u
        if plan.last_use[p] < 0 and not plan.is_output[p]:
            fmpq_zero(self.F + p * run.S + s)
        for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
            u = plan.edge_src[plan.in_edge[k]]
            if plan.last_use[u] == p and not plan.is_output[u]:
                fmpq_zero(self.F + u * run.S + s)

    cdef void _outputs_and_loss(self, Pass run, Worker *w) noexcept nogil:
        """Copy the outputs, add the loss, and seed dL/df at the outputs."""
        cdef PlanData *plan = &self.plan.d
        cdef slong s, o, p
        for s in range(w.s0, w.s1):
            for o in range(plan.n_outputs):
                fmpq_set(run.outputs + s * plan.n_outputs + o,
                         self.F + plan.output_pos[o] * run.S + s)
            if run.has_labels:
                run.sample_loss(w, s)
            if run.backward:
                for o in range(plan.n_outputs):
                    p = plan.output_pos[o]
                    fmpq_add(self.GF + p * run.S + s, self.GF + p * run.S + s, w.seed + o)

    cdef int _backward_vertex(self, Pass run, Worker *w, slong p, slong s,
                              slong step) noexcept nogil:
        """dL/dz_p of sample s from dL/df_p: added to p's bias and in-edges' gradients and
        passed on to the adjoints of p's predecessors."""
        cdef PlanData *plan = &self.plan.d
        cdef slong S = run.S, k, e, u
        cdef int a = plan.vertex_act[p]
        cdef fmpq *gz = &w.qtmp
        cdef fmpq *d = &w.qacc
        cdef fmpq *g = self.GF + p * S + s
        cdef fmpq *fu
        cdef long partial
        if a >= 0 and fmpq_is_zero(g) and w.bits_adj[p] < 1:
            w.bits_adj[p] = 1                       # dL/dz_p = 0 has 1 bit
        if a >= 0 and not fmpq_is_zero(g):
            partial = _derivative(plan, a, d, self.Z + p * S + s, &w.q, &w.r, run.max_bits)
            if partial:
                return run.mark_fault(w, p, s, step, WHAT_DERIVATIVE_PARTIAL, partial)
            fmpq_mul(gz, g, d)                       # dL/dz_p
            if run.guard(w, p, s, step, WHAT_ADJOINT, gz, w.bits_adj + p):
                return BIT_LIMIT
            if not fmpq_is_zero(gz):
                fmpq_add(w.grad_z + p, w.grad_z + p, gz)
                for k in range(plan.in_ptr[p], plan.in_ptr[p + 1]):
                    e = plan.in_edge[k]
                    u = plan.edge_src[e]
                    fu = self.F + u * S + s
                    if not fmpq_is_zero(fu):
                        fmpq_addmul(w.grad_w + e, gz, fu)
                    if not fmpq_is_zero(plan.weight + e):
                        fmpq_addmul(self.GF + u * S + s, plan.weight + e, gz)
        if not run.keep_all:    # every reader of z_p, f_p and dL/df_p is done
            fmpq_zero(self.Z + p * S + s)
            fmpq_zero(self.F + p * S + s)
            fmpq_zero(g)
        return DONE

    # --- one dense block ---------------------------------------------------------------
    cdef int _block_forward(self, Pass run, Worker *w, slong b) noexcept nogil:
        """Block b on w's samples: layer 0 gathered from the scalar f's, its layers on the
        engine, the last layer's f written back in canonical form."""
        cdef Columns *c = &w.columns
        cdef slong l0 = self.first[b], last = self.first[b + 1] - 1, i, s
        cdef int result
        load_columns(c.H + l0, c.hd[l0], self.F + w.s0,
                     self.blocks.pos + self.blocks.pos_off[l0], run.S, 1, &w.tmp)
        result = self.blocks.forward_layers(run, w, l0, last, sweep_step(
            self.plan.d.n, self.trigger[b], False, self.step_scale, 0))
        if result != DONE:
            return result
        for s in range(c.cols):
            self.blocks.column_ready(w, c.hd[last] + s)
            for i in range(self.blocks.width[last]):
                set_canonical(self.F + self.blocks.pos[self.blocks.pos_off[last] + i] * run.S
                              + w.s0 + s, at(c.H + last, i, s), c.hd[last] + s, &w.fac, &w.g,
                              False)
        if not run.backward:        # nothing reads the block's columns again
            empty(c.H + last)
        return DONE

    cdef int _block_backward(self, Pass run, Worker *w, slong b) noexcept nogil:
        """Block b backward: dL/df of its last layer gathered from the scalar adjoints, the
        layers on the engine, and dL/df of layer 0 added to the scalar adjoints."""
        cdef Columns *c = &w.columns
        cdef slong l0 = self.first[b], last = self.first[b + 1] - 1, i, s, p
        cdef fmpz_mat_struct G
        cdef fmpz *gd = _fmpz_vec_init(c.cols + 1)
        cdef int result
        fmpz_mat_init(&G, self.blocks.width[last], c.cols)
        load_columns(&G, gd, self.GF + w.s0, self.blocks.pos + self.blocks.pos_off[last], run.S,
                     1, &w.tmp)
        for i in range(self.blocks.width[last]):         # every reader of the last layer is done
            p = self.blocks.pos[self.blocks.pos_off[last] + i]
            for s in range(w.s0, w.s1):
                fmpq_zero(self.F + p * run.S + s)
                fmpq_zero(self.GF + p * run.S + s)
        result = self.blocks.backward_layers(run, w, l0, last, sweep_step(
            self.plan.d.n, self.trigger[b], True, self.step_scale, 0), &G, &gd, True)
        if result == DONE:
            self._add_adjoints(run, w, l0, &G, gd)
        fmpz_mat_clear(&G)
        _fmpz_vec_clear(gd, c.cols + 1)
        return result

    cdef void _add_adjoints(self, Pass run, Worker *w, slong l, fmpz_mat_struct *G,
                            fmpz *gd) noexcept nogil:
        """dL/df of block layer l's vertices += G / gd, per sample."""
        cdef slong i, s
        cdef fmpq *adjoint
        for s in range(G.c):
            self.blocks.column_ready(w, gd + s)
            for i in range(G.r):
                if fmpz_is_zero(at(G, i, s)):
                    continue
                set_canonical(&w.qtmp, at(G, i, s), gd + s, &w.fac, &w.g, False)
                adjoint = self.GF + self.blocks.pos[self.blocks.pos_off[l] + i] * run.S + w.s0 + s
                fmpq_add(adjoint, adjoint, &w.qtmp)

    def vertex_values(self, Pass run, slong s):
        """(z, f) of sample s by position (z is None for sources); needs keep_all."""
        cdef slong p, S = run.S
        z = [None if self.plan.d.vertex_act[p] < 0 else fmpq_get_fraction(self.Z + p * S + s)
             for p in range(self.plan.d.n)]
        f = [fmpq_get_fraction(self.F + p * S + s) for p in range(self.plan.d.n)]
        return z, f
