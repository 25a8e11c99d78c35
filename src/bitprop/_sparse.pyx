# cython: language_level=3, cdivision=True
"""Sparse blocks: convolutions, pooling trees, unrolled recurrences, any sparse wiring, run
level by level on integer columns, the fraction-free form the dense engine gives dense layers:
each row through its own in-edges, or, where a level's weights are shared parameters laid out
as a convolution's, the whole level as one matrix product (a Product: im2col).

A block (bitprop.layers.find_sparse_blocks) is a run of consecutive positions of the sweep;
its levels are its vertices grouped by depth and activation, in depth order, and level 0 is
what it reads from outside (all of it earlier in the sweep). A level's rows may read any
earlier level of the block. Values are integers over one denominator per sample column, the
weights integers over one denominator D_L per level:

    z_i = (sum over read levels m of cof_m sum_(e: u -> i, u in m) wn_e H_m[u] + bn_i c)
          / (D_L c),        c = lcm of the read levels' column denominators, cof_m = c / hd_m

Backward, a level's dL/df collects what every reading level sends it (integers over
D_L gd, merged over the lcm of the column denominators) and what scalar readers left in the
sweep's adjoints. After a barrier per level (Pass.barrier), each worker sets a share of the
level's bias and edge gradients from every worker's samples, once, in lowest terms: nothing is
left for the pass to sum. Only values that leave the block (read outside, or outputs) are
written back as rationals.
"""

from libc.stdlib cimport calloc, free, qsort

from bitprop._flint cimport *
from bitprop._plan cimport Plan, PlanData
from bitprop._codes cimport ACT_NONE, ACT_LEAKY, ACT_MONO
from bitprop._pass cimport Pass, Worker, DONE, STOPPED, BIT_LIMIT, WHAT_ADJOINT, plan_primes
from bitprop._factored cimport factor, set_canonical, divide_exact
from bitprop._columns cimport (Columns, at, empty, columns_init, columns_clear, normalize,
                               load_columns, column_lcm)
from bitprop._rules cimport derivative
from bitprop._dense cimport F_OWN, record_rows, activate_layer, set_sum


cdef extern from *:
    """
    #include <string.h>
    #include <gmp.h>
    #include <flint/fmpz.h>
    /* f += g h, in registers when all three are small (the common case on float data:
       what a call to fmpz_addmul spends in dispatch is most of such a product's cost). */
    static inline void bitprop_addmul(fmpz_t f, const fmpz_t g, const fmpz_t h)
    {
        fmpz a = *f, b = *g, c = *h;
        if (!COEFF_IS_MPZ(a) && !COEFF_IS_MPZ(b) && !COEFF_IS_MPZ(c)) {
            __int128 v = (__int128) b * c + a;
            if (v >= -COEFF_MAX && v <= COEFF_MAX)
                *f = (fmpz) v;
            else
                fmpz_set_signed_uiui(f, (ulong) ((unsigned __int128) v >> 64), (ulong) v);
            return;
        }
        fmpz_addmul(f, g, h);
    }

    static inline void bitprop_flush(fmpz_t out, __int128 acc, fmpz_t tmp)
    {
        if (acc >= -COEFF_MAX && acc <= COEFF_MAX)
            fmpz_add_si(out, out, (slong) acc);
        else {
            fmpz_set_signed_uiui(tmp, (ulong) ((unsigned __int128) acc >> 64), (ulong) acc);
            fmpz_add(out, out, tmp);
        }
    }

    /* A multi-word sum of products runs on limbs: an accumulator of two's complement words
       on the stack, each product added or subtracted in place (mpn_addmul_1, mpn_mul), no
       allocation until the one result. Sums whose products need more words than this stay
       on fmpz_addmul. */
    #define BITPROP_LIMBS 48

    static inline const mp_limb_t *bitprop_limbs(const fmpz *x, mp_limb_t *one, slong *n,
                                                 int *negative)
    {
        if (!COEFF_IS_MPZ(*x)) {
            slong v = *x;
            *negative = v < 0;
            *one = v < 0 ? -(mp_limb_t) v : (mp_limb_t) v;
            *n = 1;
            return one;
        }
        __mpz_struct *z = COEFF_TO_PTR(*x);
        *negative = z->_mp_size < 0;
        *n = z->_mp_size < 0 ? -z->_mp_size : z->_mp_size;
        return z->_mp_d;
    }

    static inline slong bitprop_words(const fmpz *x)
    {
        if (!COEFF_IS_MPZ(*x))
            return 1;
        int size = COEFF_TO_PTR(*x)->_mp_size;
        return size < 0 ? -size : size;
    }

    /* acc (n words, two's complement) += x y, for n > words(x) + words(y) */
    static void bitprop_limbs_addmul(mp_limb_t *acc, slong n, const fmpz *x, const fmpz *y,
                                     mp_limb_t *product)
    {
        mp_limb_t one_x, one_y, carry;
        slong xn, yn;
        int x_negative, y_negative;
        const mp_limb_t *xp = bitprop_limbs(x, &one_x, &xn, &x_negative);
        const mp_limb_t *yp = bitprop_limbs(y, &one_y, &yn, &y_negative);
        if (xn < yn) {
            const mp_limb_t *p = xp; xp = yp; yp = p;
            slong m = xn; xn = yn; yn = m;
        }
        if (yn == 1) {
            if (x_negative == y_negative) {
                carry = mpn_addmul_1(acc, xp, xn, yp[0]);
                mpn_add_1(acc + xn, acc + xn, n - xn, carry);
            } else {
                carry = mpn_submul_1(acc, xp, xn, yp[0]);
                mpn_sub_1(acc + xn, acc + xn, n - xn, carry);
            }
            return;
        }
        mpn_mul(product, xp, xn, yp, yn);
        if (x_negative == y_negative)
            mpn_add(acc, acc, n, product, xn + yn);
        else
            mpn_sub(acc, acc, n, product, xn + yn);
    }

    /* out += sum over k < n of a[k] b(k), b(k) = rows[index[k]][col] (a gather) or, with
       rows NULL, b[k]. Products of one-word entries add up in 128 bits, eight at a time
       (|a b| < 2^124, so eight stay below 2^127); once any entry is longer, the whole sum
       runs on limbs. */
    static void bitprop_dot(fmpz_t out, const fmpz *a, const fmpz *b, fmpz *const *rows,
                            const slong *index, slong col, slong n, fmpz_t tmp)
    {
        __int128 acc = 0;
        int count = 0, long_entries = 0;
        slong k, most = 0, words;
        for (k = 0; k < n; k++) {
            const fmpz *y = rows == NULL ? b + k : rows[index[k]] + col;
            if (a[k] == 0 || *y == 0)
                continue;
            if (COEFF_IS_MPZ(a[k]) || COEFF_IS_MPZ(*y)) {
                long_entries = 1;
                words = bitprop_words(a + k) + bitprop_words(y);
                most = words > most ? words : most;
            }
        }
        if (long_entries && most + 1 <= BITPROP_LIMBS) {
            mp_limb_t sum[BITPROP_LIMBS], product[BITPROP_LIMBS];
            slong size = most + 1;
            memset(sum, 0, size * sizeof(mp_limb_t));
            for (k = 0; k < n; k++) {
                const fmpz *y = rows == NULL ? b + k : rows[index[k]] + col;
                if (a[k] != 0 && *y != 0)
                    bitprop_limbs_addmul(sum, size, a + k, y, product);
            }
            if (fmpz_is_zero(out))
                fmpz_set_signed_ui_array(out, sum, size);
            else {
                fmpz_set_signed_ui_array(tmp, sum, size);
                fmpz_add(out, out, tmp);
            }
            return;
        }
        for (k = 0; k < n; k++) {
            const fmpz *y = rows == NULL ? b + k : rows[index[k]] + col;
            if (a[k] == 0 || *y == 0)
                continue;
            if (!COEFF_IS_MPZ(a[k]) && !COEFF_IS_MPZ(*y)) {
                acc += (__int128) a[k] * *y;
                if (++count == 8) {
                    bitprop_flush(out, acc, tmp);
                    acc = 0;
                    count = 0;
                }
            } else
                fmpz_addmul(out, a + k, y);
        }
        if (count)
            bitprop_flush(out, acc, tmp);
    }
    """
    void bitprop_addmul(fmpz *f, const fmpz *g, const fmpz *h) nogil
    void bitprop_dot(fmpz *out, const fmpz *a, const fmpz *b, fmpz **rows, const slong *index,
                     slong col, slong n, fmpz *tmp) nogil


cdef struct InEdge:
    slong level, row, edge


cdef int _by_source(const void *a, const void *b) noexcept nogil:
    cdef const InEdge *x = <const InEdge *>a
    cdef const InEdge *y = <const InEdge *>b
    if x.level != y.level:
        return -1 if x.level < y.level else 1
    if x.row != y.row:
        return -1 if x.row < y.row else 1
    return -1 if x.edge < y.edge else (1 if x.edge > y.edge else 0)


cdef void *_alloc(Py_ssize_t n, Py_ssize_t size) except NULL:
    cdef void *p = calloc(n + 1, size)
    if p == NULL:
        raise MemoryError()
    return p


cdef class SparseBlocks:
    """The sparse blocks of a plan (a bitprop.layers.SparseLayout) with their integer
    weights, built once per compiled network and read-only while passes run."""

    def __init__(self, Plan plan, layout):
        cdef PlanData *d = &plan.d
        cdef slong b, L, r, k, e, a, n_levels, n_rows
        self.plan = plan
        self.n_blocks = len(layout.blocks)
        n_levels = sum(len(block) for block in layout.blocks)
        n_rows = sum(len(level) for block in layout.blocks for level in block)
        self.level_off = <slong *>_alloc(self.n_blocks + 1, sizeof(slong))
        self.row_off = <slong *>_alloc(n_levels + 1, sizeof(slong))
        self.width = <slong *>_alloc(n_levels, sizeof(slong))
        self.read_off = <slong *>_alloc(n_levels + 1, sizeof(slong))
        self.reads = <slong *>_alloc(n_levels * n_levels, sizeof(slong))
        self.rule = <ColumnRule *>_alloc(n_levels, sizeof(ColumnRule))
        self.pos = <slong *>_alloc(n_rows, sizeof(slong))
        self.exported = <char *>_alloc(n_rows, 1)
        self.wanted = <char *>_alloc(n_levels, 1)
        self.edge_off = <slong *>_alloc(n_rows + 1, sizeof(slong))
        self.act_p = _fmpz_vec_init(n_levels + 1)
        self.act_q = _fmpz_vec_init(n_levels + 1)
        self.D = _fmpz_vec_init(n_levels + 1)
        self.bn = _fmpz_vec_init(n_rows + 1)
        self.n_edges = sum(d.in_ptr[p + 1] - d.in_ptr[p] for block in layout.blocks
                           for level in block[1:] for p in level)
        self.edge_id = <slong *>_alloc(self.n_edges, sizeof(slong))
        self.src_level = <slong *>_alloc(self.n_edges, sizeof(slong))
        self.src_row = <slong *>_alloc(self.n_edges, sizeof(slong))
        self.wn = _fmpz_vec_init(self.n_edges + 1)
        self.out_wn = _fmpz_vec_init(self.n_edges + 1)
        self.out_level = <slong *>_alloc(self.n_edges, sizeof(slong))
        self.out_src = <slong *>_alloc(self.n_edges, sizeof(slong))
        self.out_row = <slong *>_alloc(self.n_edges, sizeof(slong))
        L = r = 0
        for b, block in enumerate(layout.blocks):
            self.level_off[b] = L
            self.most_levels = max(self.most_levels, len(block))
            for k, level in enumerate(block):
                self.row_off[L] = r
                self.width[L] = len(level)
                self.rule[L].code = ACT_NONE
                self.rule[L].p, self.rule[L].q = self.act_p + L, self.act_q + L
                if k:
                    a = d.vertex_act[level[0]]
                    self.rule[L].code = d.act_code[a]
                    if d.act_code[a] in (ACT_LEAKY, ACT_MONO):
                        fmpz_set(self.act_p + L, fmpq_numref(d.pool + d.act_off[a]))
                        fmpz_set(self.act_q + L, fmpq_denref(d.pool + d.act_off[a]))
                        self.rule[L].degree = d.act_bits[a] if d.act_code[a] == ACT_MONO else 1
                for p in level:
                    self.pos[r] = p
                    self.exported[r] = p in layout.exported
                    r += 1
                # a source's dL/df serves nothing (no gradient, no bit statistics)
                self.wanted[L] = k > 0 or any(d.vertex_act[p] >= 0 for p in level)
                L += 1
        self.level_off[self.n_blocks] = L
        self.row_off[L] = r
        self._connect()
        self._scale_weights()
        self._transpose()
        self.product_of = <slong *>_alloc(self.read_off[L], sizeof(slong))
        self._find_products(layout.weight_class, layout.min_product_edges)
        self.primes = plan_primes(d)

    def __dealloc__(self):
        cdef slong levels = self.level_off[self.n_blocks] if self.level_off != NULL else 0
        cdef slong rows = self.row_off[levels] if self.row_off != NULL else 0
        if self.act_p != NULL:
            _fmpz_vec_clear(self.act_p, levels + 1)
            _fmpz_vec_clear(self.act_q, levels + 1)
            _fmpz_vec_clear(self.D, levels + 1)
            _fmpz_vec_clear(self.bn, rows + 1)
        if self.wn != NULL:
            _fmpz_vec_clear(self.wn, self.n_edges + 1)
        if self.out_wn != NULL:
            _fmpz_vec_clear(self.out_wn, self.n_edges + 1)
        cdef slong k
        if self.products != NULL:
            for k in range(self.n_products):
                fmpz_mat_clear(&self.products[k].K)
                fmpz_mat_clear(&self.products[k].KT)
                free(self.products[k].src); free(self.products[k].dst)
            free(self.products)
        free(self.product_of)
        free(self.out_level); free(self.out_src); free(self.out_row)
        free(self.level_off); free(self.row_off); free(self.width); free(self.read_off)
        free(self.reads); free(self.rule); free(self.pos); free(self.exported)
        free(self.wanted)
        free(self.edge_off); free(self.edge_id); free(self.src_level); free(self.src_row)

    cdef void _connect(self) except *:
        """Every row's in-edges as (source level, source row), grouped by level, and the
        levels each level reads."""
        cdef PlanData *d = &self.plan.d
        cdef slong b, L, k, r, i, j, p, e, m, out = 0, most = 1, count = 0
        cdef slong *level_of = <slong *>_alloc(d.n, sizeof(slong))
        cdef slong *row_of = <slong *>_alloc(d.n, sizeof(slong))
        cdef InEdge *edges = NULL
        cdef char *seen = NULL
        try:
            for p in range(d.n):
                most = max(most, d.in_ptr[p + 1] - d.in_ptr[p])
                level_of[p] = -1
            edges = <InEdge *>_alloc(most, sizeof(InEdge))
            for b in range(self.n_blocks):
                seen = <char *>_alloc(self.level_off[b + 1] - self.level_off[b], 1)
                for L in range(self.level_off[b], self.level_off[b + 1]):
                    for r in range(self.row_off[L], self.row_off[L + 1]):
                        level_of[self.pos[r]] = L - self.level_off[b]
                        row_of[self.pos[r]] = r - self.row_off[L]
                for L in range(self.level_off[b], self.level_off[b + 1]):
                    self.read_off[L] = count
                    for k in range(self.level_off[b + 1] - self.level_off[b]):
                        seen[k] = 0
                    for r in range(self.row_off[L], self.row_off[L + 1]):
                        self.edge_off[r] = out
                        if L == self.level_off[b]:
                            continue
                        p = self.pos[r]
                        for i in range(d.in_ptr[p + 1] - d.in_ptr[p]):
                            e = d.in_edge[d.in_ptr[p] + i]
                            edges[i].edge = e
                            edges[i].level = level_of[d.edge_src[e]]
                            edges[i].row = row_of[d.edge_src[e]]
                            if edges[i].level < 0:
                                raise ValueError(f"sparse block {b} reads position "
                                                 f"{d.edge_src[e]}, which it does not hold")
                        qsort(edges, d.in_ptr[p + 1] - d.in_ptr[p], sizeof(InEdge), _by_source)
                        for i in range(d.in_ptr[p + 1] - d.in_ptr[p]):
                            self.edge_id[out] = edges[i].edge
                            self.src_level[out] = edges[i].level
                            self.src_row[out] = edges[i].row
                            seen[edges[i].level] = 1
                            out += 1
                    for m in range(self.level_off[b + 1] - self.level_off[b]):
                        if seen[m]:
                            self.reads[count] = m
                            count += 1
                for L in range(self.level_off[b], self.level_off[b + 1]):
                    for r in range(self.row_off[L], self.row_off[L + 1]):
                        level_of[self.pos[r]] = -1
                free(seen)
                seen = NULL
            self.edge_off[self.row_off[self.level_off[self.n_blocks]]] = out
            self.read_off[self.level_off[self.n_blocks]] = count
        finally:
            free(level_of); free(row_of); free(edges); free(seen)

    cdef void _scale_weights(self) noexcept:
        """D_L, and every weight and bias sum of level L times D_L (integers)."""
        cdef PlanData *d = &self.plan.d
        cdef slong L, r, k
        cdef fmpz_t factor
        fmpz_init(factor)
        for L in range(self.level_off[self.n_blocks]):
            fmpz_one(self.D + L)
            for r in range(self.row_off[L], self.row_off[L + 1]):
                if self.rule[L].code == ACT_NONE:
                    continue
                fmpz_lcm(self.D + L, self.D + L, fmpq_denref(d.bias_sum + self.pos[r]))
                for k in range(self.edge_off[r], self.edge_off[r + 1]):
                    fmpz_lcm(self.D + L, self.D + L, fmpq_denref(d.weight + self.edge_id[k]))
            for r in range(self.row_off[L], self.row_off[L + 1]):
                if self.rule[L].code == ACT_NONE:
                    continue
                _scaled(self.bn + r, d.bias_sum + self.pos[r], self.D + L, factor)
                for k in range(self.edge_off[r], self.edge_off[r + 1]):
                    _scaled(self.wn + k, d.weight + self.edge_id[k], self.D + L, factor)
        fmpz_clear(factor)

    cdef void _transpose(self) except *:
        """out_*: each level's in-edges sorted by (source level, source row, reading row)."""
        cdef slong L, r, k, e0, e1, n
        cdef InEdge *order = <InEdge *>_alloc(self.n_edges, sizeof(InEdge))
        cdef slong *row_of = <slong *>_alloc(self.n_edges, sizeof(slong))
        try:
            for L in range(self.level_off[self.n_blocks]):
                for r in range(self.row_off[L], self.row_off[L + 1]):
                    for k in range(self.edge_off[r], self.edge_off[r + 1]):
                        row_of[k] = r - self.row_off[L]
                e0 = self.edge_off[self.row_off[L]]
                e1 = self.edge_off[self.row_off[L + 1]]
                n = e1 - e0
                for k in range(n):
                    order[k].level = self.src_level[e0 + k]
                    order[k].row = self.src_row[e0 + k]
                    order[k].edge = e0 + k          # rows in order: ties keep the row order
                qsort(order, n, sizeof(InEdge), _by_source)
                for k in range(n):
                    fmpz_set(self.out_wn + e0 + k, self.wn + order[k].edge)
                    self.out_level[e0 + k] = order[k].level
                    self.out_src[e0 + k] = order[k].row
                    self.out_row[e0 + k] = row_of[order[k].edge]
        finally:
            free(order); free(row_of)

    def _find_products(self, weight_class, slong min_edges):
        """Every read of a level that is a matrix product: product_of and products."""
        cdef slong L, j, k
        cdef Product *product
        shapes = []
        for L in range(self.level_off[self.n_blocks]):
            for j in range(self.read_off[L], self.read_off[L + 1]):
                shape = None if weight_class is None else self._product_shape(
                    L, self.reads[j], weight_class, min_edges)
                self.product_of[j] = -1 if shape is None else len(shapes)
                if shape is not None:
                    shapes.append(shape)
        self.products = <Product *>_alloc(len(shapes), sizeof(Product))
        for kernels, patches, dst in shapes:
            product = self.products + self.n_products
            product.n_kernels, product.n_patches = len(kernels), len(patches)
            product.n_slots = len(next(iter(patches)))
            fmpz_mat_init(&product.K, product.n_kernels, product.n_slots)
            fmpz_mat_init(&product.KT, product.n_slots, product.n_kernels)
            product.src = <slong *>_alloc(product.n_patches * product.n_slots, sizeof(slong))
            product.dst = <slong *>_alloc(product.n_kernels * product.n_patches, sizeof(slong))
            self.n_products += 1
            for a, edges in enumerate(kernels):
                for j, k in enumerate(edges):
                    fmpz_set(at(&product.K, a, j), self.wn + k)
            fmpz_mat_transpose(&product.KT, &product.K)
            for patch, p in patches.items():
                for j, k in enumerate(patch):
                    product.src[p * product.n_slots + j] = k
            for k in range(product.n_kernels * product.n_patches):
                product.dst[k] = -1
            for (a, p), i in dst.items():
                product.dst[a * product.n_patches + p] = i

    def _product_shape(self, slong L, slong m, weight_class, slong min_edges):
        """Level L's sum over level m as K times patches, when that pays: (kernels: per
        kernel row its in-edges by slot, patches: slots' source rows -> patch, dst: (kernel,
        patch) -> row of L), or None. Edges whose weights are one shared parameter share a
        kernel entry; a row's in-edges from m are one kernel row's entries, each slot read
        once; rows with the same sources in the same slots share a patch."""
        cdef slong r, k, i
        rows = []
        for r in range(self.row_off[L], self.row_off[L + 1]):
            edges = [k for k in range(self.edge_off[r], self.edge_off[r + 1])
                     if self.src_level[k] == m]
            if edges:
                rows.append((r - self.row_off[L], edges))
        n_edges = sum(len(edges) for _, edges in rows)
        if n_edges < min_edges:
            return None
        rows.sort(key=lambda row: -len(row[1]))      # full kernel rows first
        width = len(rows[0][1])                       # K's columns
        slot, kernels, patches, dst = {}, [], {}, {}
        for i, edges in rows:
            classes = [weight_class[self.edge_id[k]] for k in edges]
            if classes[0] not in slot:
                if any(c in slot for c in classes) or len(set(classes)) < len(classes):
                    return None
                for j, c in enumerate(classes):
                    slot[c] = (len(kernels), j)
                kernels.append(edges)
            a = slot[classes[0]][0]
            patch = [-1] * width
            for k, c in zip(edges, classes):
                place = slot.get(c)
                if place is None or place[0] != a or patch[place[1]] != -1:
                    return None
                patch[place[1]] = self.src_row[k]
            p = patches.setdefault(tuple(patch), len(patches))
            if (a, p) in dst:
                return None
            dst[a, p] = i
        if len(kernels) < 2 or len(kernels) * width * len(patches) > 2 * n_edges:
            return None
        return kernels, patches, dst

    def product_shapes(self):
        """Per read that runs as a product: (level, level read, kernel rows, slots,
        patches), levels numbered over all blocks."""
        cdef slong L, j
        cdef Product *product
        shapes = []
        for L in range(self.level_off[self.n_blocks]):
            for j in range(self.read_off[L], self.read_off[L + 1]):
                if self.product_of[j] >= 0:
                    product = self.products + self.product_of[j]
                    shapes.append((L, self.reads[j] + _block_start(self, L), product.n_kernels,
                                   product.n_slots, product.n_patches))
        return shapes

    def block_sizes(self):
        """Per block: (levels without its input level, rows of those levels, in-edges)."""
        cdef slong b, L0, L1
        sizes = []
        for b in range(self.n_blocks):
            L0, L1 = self.level_off[b], self.level_off[b + 1]
            sizes.append((L1 - L0 - 1, self.row_off[L1] - self.row_off[L0 + 1],
                          self.edge_off[self.row_off[L1]] - self.edge_off[self.row_off[L0]]))
        return sizes

    def trigger(self, slong b):
        """The position where block b runs: its first row after its input level."""
        return self.pos[self.row_off[self.level_off[b] + 1]]

    cdef slong mark(self, slong *block_of, char *vertex_set_once,
                    char *edge_set_once) noexcept:
        """Every row's block in block_of and every row and in-edge as set once (gradient
        rows); -1, or the first position block_of already gave another block."""
        cdef slong b, r, k
        for b in range(self.n_blocks):
            for r in range(self.row_off[self.level_off[b] + 1],
                           self.row_off[self.level_off[b + 1]]):
                if block_of[self.pos[r]] >= 0:
                    return self.pos[r]
                block_of[self.pos[r]] = b
                vertex_set_once[self.pos[r]] = 1
        for k in range(self.n_edges):
            edge_set_once[self.edge_id[k]] = 1
        return -1

    # --- forward -------------------------------------------------------------------------
    cdef int forward(self, Pass run, Worker *w, slong b, BlockState *state, fmpq *F,
                     slong step) noexcept nogil:
        """Block b on w's samples: level 0 gathered from the sweep's f, then each level;
        level k records z at ``step`` + 2k - 1 and f at + 2k. The values that leave the
        block are written to F in lowest terms."""
        cdef Columns *c = &state.values
        cdef slong L0 = self.level_off[b], levels = self.level_off[b + 1] - L0, k, r, i, s
        if not columns_init(c, self.width + L0, levels, w.s1 - w.s0):
            return STOPPED
        load_columns(c.H, c.hd[0], F + w.s0, self.pos + self.row_off[L0], run.S, 1, &w.tmp)
        for k in range(1, levels):
            if run.stop:
                return STOPPED
            if self._forward_level(run, w, c, L0, k, step + 2 * k - 1):
                return BIT_LIMIT
            w.done += self.width[L0 + k]
        for k in range(1, levels):
            for s in range(c.cols):
                factor(&w.fac, c.hd[k] + s, &w.tmp)
                for i in range(self.width[L0 + k]):
                    r = self.row_off[L0 + k] + i
                    if self.exported[r]:
                        set_canonical(F + self.pos[r] * run.S + w.s0 + s, at(c.H + k, i, s),
                                      c.hd[k] + s, &w.fac, &w.g, False)
        if not run.backward:
            columns_clear(c)
        return DONE

    cdef int _forward_level(self, Pass run, Worker *w, Columns *c, slong L0, slong k,
                            slong step) noexcept nogil:
        """Level k's Z and H from the levels it reads, canonical per column and recorded
        at ``step`` (z) and ``step + 1`` (f)."""
        cdef slong L = L0 + k, cols = c.cols, n_reads = self.read_off[L + 1] - self.read_off[L]
        cdef slong i, j, s, r, e, m, end
        cdef bint scaled
        cdef ColumnRule *rule = self.rule + L
        cdef fmpz_mat_struct *Z = c.Z + k
        cdef fmpz *zd = c.zd[k]
        cdef fmpz *common = _fmpz_vec_init(cols + 1)
        cdef fmpz *cof = _fmpz_vec_init(n_reads * cols + 1)
        cdef fmpz *acc = _fmpz_vec_init(cols + 1)
        cdef const fmpz *u
        # the common denominator of the levels read, and each one's cofactor
        for s in range(cols):
            fmpz_one(common + s)
            for j in range(n_reads):
                fmpz_lcm(common + s, common + s, c.hd[self.reads[self.read_off[L] + j]] + s)
            for j in range(n_reads):
                divide_exact(cof + j * cols + s, common + s,
                             c.hd[self.reads[self.read_off[L] + j]] + s)
        for j in range(n_reads):
            m = self.reads[self.read_off[L] + j]
            scaled = not _all_one(cof + j * cols, cols)     # more than one level read
            if self.product_of[self.read_off[L] + j] >= 0:
                _product_forward(self.products + self.product_of[self.read_off[L] + j],
                                 c.H + m, Z, cof + j * cols if scaled else NULL)
                continue
            for i in range(self.width[L]):
                r = self.row_off[L] + i
                e = self.edge_off[r]
                while e < self.edge_off[r + 1] and self.src_level[e] < m:
                    e += 1
                end = e
                while end < self.edge_off[r + 1] and self.src_level[end] == m:
                    end += 1
                if e == end:
                    continue
                if not scaled:
                    _row_sum(Z.rows[i], self.wn, c.H + m, self.src_row, e, end, cols, &w.tmp)
                    continue
                _fmpz_vec_zero(acc, cols)
                _row_sum(acc, self.wn, c.H + m, self.src_row, e, end, cols, &w.tmp)
                for s in range(cols):
                    bitprop_addmul(at(Z, i, s), acc + s, cof + j * cols + s)
        for i in range(self.width[L]):
            r = self.row_off[L] + i
            if not fmpz_is_zero(self.bn + r):
                for s in range(cols):
                    bitprop_addmul(at(Z, i, s), self.bn + r, common + s)
        for s in range(cols):
            fmpz_mul(zd + s, self.D + L, common + s)
        _fmpz_vec_clear(common, cols + 1)
        _fmpz_vec_clear(cof, n_reads * cols + 1)
        _fmpz_vec_clear(acc, cols + 1)
        return activate_layer(run, w, rule, Z, zd, c.H + k, c.hd[k], self.pos + self.row_off[L],
                              step)

    cdef int _record(self, Pass run, Worker *w, slong L, slong step, fmpz_mat_struct *m,
                     const fmpz *den, int what, long *bits, int f_rule,
                     long *f_bits) noexcept nogil:
        """Bit statistics of level L's matrix (bitprop._dense.record_rows)."""
        return record_rows(run, w, m, den, self.pos + self.row_off[L], step, what, bits,
                           f_rule, f_bits)

    # --- backward ------------------------------------------------------------------------
    cdef int backward(self, Pass run, Worker *w, slong b, BlockState *states, slong stride,
                      fmpq *F, fmpq *GF, slong step) noexcept nogil:
        """Block b backward on w's samples (its state states[w.index * stride]; worker u's at
        states[u * stride]): dL/df of its exported rows gathered from the sweep's adjoints,
        then each level from the last (its adjoints recorded at ``step`` + levels - 1 - k),
        then, after a barrier, w's share of the level's gradient rows from every worker's
        samples, and its dL/df sent to the levels it reads; level 0's dL/df is added to the
        sweep's adjoints. A last barrier, and the block's columns are freed."""
        cdef BlockState *state = states + w.index * stride
        cdef Columns *c = &state.values
        cdef Columns *a = &state.adjoint
        cdef slong L0 = self.level_off[b], levels = self.level_off[b + 1] - L0, k, i, s
        cdef fmpq *q
        if not columns_init(a, self.width + L0, levels, c.cols):
            return STOPPED
        for k in range(levels):
            empty(a.Z + k)                  # adjoints only
            for s in range(c.cols):
                fmpz_one(a.hd[k] + s)
        for k in range(1, levels):
            self._gather_adjoints(run, w, L0 + k, a.H + k, a.hd[k], F, GF)
        for k in range(levels - 1, 0, -1):
            if run.stop:
                return STOPPED
            if self._adjoint(run, w, c, a, L0 + k, k, step + levels - 1 - k):
                return BIT_LIMIT
            if not run.barrier(w):
                return STOPPED
            if k + 1 < levels:
                empty(a.H + k + 1)          # every worker is past its gradient rows
            self._gradient_rows(run, w, states, stride, L0, k)
            self._send_all(w, c, a, L0, k)
            w.done += self.width[L0 + k]
        for s in range(c.cols if self.wanted[L0] else 0):  # level 0's into the sweep's
            factor(&w.fac, a.hd[0] + s, &w.tmp)
            for i in range(self.width[L0]):
                if fmpz_is_zero(at(a.H, i, s)):
                    continue
                set_canonical(&w.qtmp, at(a.H, i, s), a.hd[0] + s, &w.fac, &w.g, False)
                q = GF + self.pos[self.row_off[L0] + i] * run.S + w.s0 + s
                fmpq_add(q, q, &w.qtmp)
        if not run.barrier(w):              # nobody reads w's columns any more
            return STOPPED
        columns_clear(a)
        columns_clear(c)
        return DONE

    cdef void _gather_adjoints(self, Pass run, Worker *w, slong L, fmpz_mat_struct *G,
                               fmpz *gd, fmpq *F, fmpq *GF) noexcept nogil:
        """G, gd := dL/df of level L's exported rows, as scalar readers left them in GF
        (other rows 0), over one denominator per column; their F and GF are freed."""
        cdef slong i, s, r
        cdef fmpq *x
        for s in range(G.c):
            for i in range(self.width[L]):
                r = self.row_off[L] + i
                if self.exported[r]:
                    fmpz_lcm(gd + s, gd + s, fmpq_denref(GF + self.pos[r] * run.S + w.s0 + s))
            for i in range(self.width[L]):
                r = self.row_off[L] + i
                if not self.exported[r]:
                    continue
                x = GF + self.pos[r] * run.S + w.s0 + s
                if not fmpq_is_zero(x):
                    fmpz_divexact(&w.tmp, gd + s, fmpq_denref(x))
                    fmpz_mul(at(G, i, s), fmpq_numref(x), &w.tmp)
                fmpq_zero(x)
                fmpq_zero(F + self.pos[r] * run.S + w.s0 + s)

    cdef int _adjoint(self, Pass run, Worker *w, Columns *c, Columns *a, slong L, slong k,
                      slong step) noexcept nogil:
        """Level L (k-th of its block): dL/dz from dL/df in place, canonical per column and
        recorded at ``step``."""
        derivative(self.rule + L, c.Z + k, c.zd[k], c.H + k, False, a.H + k, a.hd[k], &w.tmp)
        normalize(a.H + k, a.hd[k], &w.fac, &w.g, &w.tmp)
        return self._record(run, w, L, step, a.H + k, a.hd[k], WHAT_ADJOINT, w.bits_adj,
                            F_OWN, NULL)

    cdef void _send_all(self, Worker *w, Columns *c, Columns *a, slong L0,
                        slong k) noexcept nogil:
        """Level k's dL/df sent to every level it reads whose dL/df serves a gradient; its
        values are not read again."""
        cdef slong L = L0 + k, j, m
        for j in range(self.read_off[L], self.read_off[L + 1]):
            m = self.reads[j]
            if self.wanted[L0 + m]:
                self._send(w, a, L, k, m, a.H + k, a.hd[k])
        empty(c.Z + k)
        empty(c.H + k)

    cdef void _gradient_rows(self, Pass run, Worker *w, BlockState *states, slong stride,
                             slong L0, slong k) noexcept nogil:
        """w's share of level k's rows: their bias gradients and their in-edges' weight
        gradients, each a sum over every worker's samples over one common denominator, set
        once (run.grad_w by edge id, run.grad_z by position; region 0)."""
        cdef slong L = L0 + k, n = self.width[L], t = run.threads, u, i, j, s, e, m, r
        cdef slong i0 = n * w.index // t, rows = n * (w.index + 1) // t - i0
        cdef Columns *cu
        cdef Columns *au
        cdef fmpz_t den
        cdef fmpz *factors                  # per worker's columns, in sample order
        cdef fmpz_mat_struct *A             # per worker: its columns of G's rows, scaled
        if rows == 0:
            return
        fmpz_init(den)
        factors = _fmpz_vec_init(run.S + 1)
        A = <fmpz_mat_struct *>flint_malloc(t * sizeof(fmpz_mat_struct))  # as FLINT's own
        # dL/db: sum over all samples of G[i, s] / gd[s]
        fmpz_one(den)
        for u in range(t):
            au = &states[u * stride].adjoint
            column_lcm(&w.tmp, au.hd[k], au.H[k].c)
            fmpz_lcm(den, den, &w.tmp)
        for u in range(t):
            au = &states[u * stride].adjoint
            for s in range(au.H[k].c):
                divide_exact(factors + run.workers[u].s0 + s, den, au.hd[k] + s)
        factor(&w.fac, den, &w.tmp)
        for i in range(i0, i0 + rows):
            fmpz_zero(&w.q)
            for u in range(t):
                au = &states[u * stride].adjoint
                bitprop_dot(&w.q, au.H[k].rows[i], factors + run.workers[u].s0, NULL, NULL, 0,
                            au.H[k].c, &w.tmp)
            set_sum(run, run.grad_z + self.pos[self.row_off[L] + i], &w.q, den, &w.fac, &w.g,
                    &w.grad_bits_b)
        # dL/dw of the in-edges from each level m read: G[i, s] H_m[u, s] / (gd[s] hd_m[s])
        for j in range(self.read_off[L], self.read_off[L + 1]):
            m = self.reads[j]
            fmpz_one(den)
            for u in range(t):
                cu, au = &states[u * stride].values, &states[u * stride].adjoint
                for s in range(au.H[k].c):
                    fmpz_mul(factors + run.workers[u].s0 + s, au.hd[k] + s, cu.hd[m] + s)
                    fmpz_lcm(den, den, factors + run.workers[u].s0 + s)
            for u in range(t):
                au = &states[u * stride].adjoint
                fmpz_mat_init(A + u, rows, au.H[k].c)
                for s in range(au.H[k].c):
                    divide_exact(factors + run.workers[u].s0 + s, den,
                                 factors + run.workers[u].s0 + s)
                    for i in range(rows):
                        fmpz_mul(at(A + u, i, s), at(au.H + k, i0 + i, s),
                                 factors + run.workers[u].s0 + s)
            factor(&w.fac, den, &w.tmp)
            for i in range(rows):
                r = self.row_off[L] + i0 + i
                for e in range(self.edge_off[r], self.edge_off[r + 1]):
                    if self.src_level[e] != m:
                        continue
                    fmpz_zero(&w.q)
                    for u in range(t):
                        cu = &states[u * stride].values
                        bitprop_dot(&w.q, A[u].rows[i], cu.H[m].rows[self.src_row[e]], NULL,
                                    NULL, 0, cu.cols, &w.tmp)
                    set_sum(run, run.grad_w + self.edge_id[e], &w.q, den, &w.fac, &w.g,
                            &w.grad_bits_w)
            for u in range(t):
                fmpz_mat_clear(A + u)
        flint_free(A)
        fmpz_clear(den)
        _fmpz_vec_clear(factors, run.S + 1)

    cdef void _send(self, Worker *w, Columns *a, slong L, slong k, slong m,
                    fmpz_mat_struct *G, const fmpz *gd) noexcept nogil:
        """dL/df of level m += its share of level L's W^T G / (D_L gd), merged into what
        level m holds over the lcm of the two denominators per column."""
        cdef slong cols = G.c, s, e, end, u, j
        cdef slong e0 = self.edge_off[self.row_off[L]], e1 = self.edge_off[self.row_off[L + 1]]
        cdef fmpz_mat_struct T
        cdef fmpz *td = _fmpz_vec_init(cols + 1)
        cdef fmpz_mat_struct *M = a.H + m
        cdef fmpz *md = a.hd[m]
        fmpz_mat_init(&T, M.r, cols)
        j = _slot(self.reads + self.read_off[L], self.read_off[L + 1] - self.read_off[L], m)
        if self.product_of[self.read_off[L] + j] >= 0:
            _product_send(self.products + self.product_of[self.read_off[L] + j], G, &T)
            e = e1
        else:
            e = e0
        while e < e1 and self.out_level[e] < m:
            e += 1
        while e < e1 and self.out_level[e] == m:     # one source row at a time: a gather
            u = self.out_src[e]
            end = e
            while end < e1 and self.out_level[end] == m and self.out_src[end] == u:
                end += 1
            for s in range(cols):
                bitprop_dot(T.rows[u] + s, self.out_wn + e, NULL, G.rows, self.out_row + e, s,
                            end - e, &w.tmp)
            e = end
        for s in range(cols):
            fmpz_mul(td + s, self.D + L, gd + s)
        _merge(M, md, &T, td, &w.tmp, &w.g)
        fmpz_mat_clear(&T)
        _fmpz_vec_clear(td, cols + 1)


# --- products ------------------------------------------------------------------------------

cdef slong _block_start(SparseBlocks blocks, slong L):
    """The first level of level L's block."""
    cdef slong b = 0
    while blocks.level_off[b + 1] <= L:
        b += 1
    return blocks.level_off[b]


cdef inline void _drop_view(fmpz_mat_struct *m) noexcept nogil:
    """Free a matrix whose entries are copies of another's words (their big integers are
    the other's, read only): forget them, then free the matrix."""
    cdef slong i
    for i in range(m.r * m.c):
        m.entries[i] = 0
    fmpz_mat_clear(m)


cdef void _product_forward(const Product *P, fmpz_mat_struct *H, fmpz_mat_struct *Z,
                           const fmpz *cof) noexcept nogil:
    """Z[dst] += (K X) (* cof per column, when given), X the patches of H side by side:
    column p cols + s of X is patch p of sample column s."""
    cdef fmpz_mat_struct X, Y
    fmpz_mat_init(&X, P.n_slots, P.n_patches * Z.c)
    _gather(&X, H, P.src, 1, P.n_slots, P.n_patches)
    fmpz_mat_init(&Y, P.n_kernels, P.n_patches * Z.c)
    fmpz_mat_mul(&Y, &P.K, &X)
    _drop_view(&X)
    _scatter(Z, &Y, P.dst, P.n_patches, 1, P.n_patches, cof)
    fmpz_mat_clear(&Y)


cdef void _product_send(const Product *P, fmpz_mat_struct *G, fmpz_mat_struct *T) noexcept nogil:
    """T[src] += K^T G' where G' holds G's rows in K's layout (kernel row by patch), the
    transpose of _product_forward: each patch slot's share goes back to its row."""
    cdef fmpz_mat_struct Gp, Tp
    fmpz_mat_init(&Gp, P.n_kernels, P.n_patches * G.c)
    _gather(&Gp, G, P.dst, P.n_patches, 1, P.n_patches)
    fmpz_mat_init(&Tp, P.n_slots, P.n_patches * G.c)
    fmpz_mat_mul(&Tp, &P.KT, &Gp)
    _drop_view(&Gp)
    _scatter(T, &Tp, P.src, 1, P.n_slots, P.n_patches, NULL)
    fmpz_mat_clear(&Tp)


cdef void _gather(fmpz_mat_struct *out, fmpz_mat_struct *rows, const slong *index,
                  slong row_stride, slong patch_stride, slong n_patches) noexcept nogil:
    """out[k, p cols + s] := rows[index[k row_stride + p patch_stride], s] (where that is
    >= 0), as a view of rows' words: free out with _drop_view."""
    cdef slong cols = rows.c, k, p, s, u
    for k in range(out.r):
        for p in range(n_patches):
            u = index[k * row_stride + p * patch_stride]
            if u >= 0:
                for s in range(cols):
                    at(out, k, p * cols + s)[0] = at(rows, u, s)[0]


cdef void _scatter(fmpz_mat_struct *rows, fmpz_mat_struct *m, const slong *index,
                   slong row_stride, slong patch_stride, slong n_patches,
                   const fmpz *cof) noexcept nogil:
    """rows[index[k row_stride + p patch_stride], s] += m[k, p cols + s] (* cof[s], when
    given), the transpose of _gather; m's entries are consumed."""
    cdef slong cols = rows.c, k, p, s, u
    cdef fmpz *x
    for k in range(m.r):
        for p in range(n_patches):
            u = index[k * row_stride + p * patch_stride]
            if u < 0:
                continue
            for s in range(cols):
                x = at(m, k, p * cols + s)
                if cof != NULL:
                    bitprop_addmul(at(rows, u, s), x, cof + s)
                elif fmpz_is_zero(at(rows, u, s)):
                    fmpz_swap(at(rows, u, s), x)
                else:
                    fmpz_add(at(rows, u, s), at(rows, u, s), x)


# --- helpers -------------------------------------------------------------------------------

cdef inline void _row_sum(fmpz *out, const fmpz *wn, fmpz_mat_struct *H, const slong *src_row,
                          slong e0, slong e1, slong cols, fmpz *tmp) noexcept nogil:
    """out[s] += sum over in-edges e0 <= e < e1 of wn[e] H[src_row[e], s]."""
    cdef slong s
    for s in range(cols):
        bitprop_dot(out + s, wn + e0, NULL, H.rows, src_row + e0, s, e1 - e0, tmp)


cdef inline slong _slot(const slong *reads, slong n, slong m) noexcept nogil:
    cdef slong j
    for j in range(n):
        if reads[j] == m:
            return j
    return 0


cdef inline bint _all_one(const fmpz *x, slong n) noexcept nogil:
    cdef slong i
    for i in range(n):
        if not fmpz_is_one(x + i):
            return False
    return True


cdef void _merge(fmpz_mat_struct *M, fmpz *md, fmpz_mat_struct *T, const fmpz *td,
                 fmpz *left, fmpz *right) noexcept nogil:
    """M / md += T / td, column by column, over lcm(md, td) (T's entries are consumed)."""
    cdef slong i, s
    for s in range(M.c):
        if fmpz_equal(md + s, td + s):
            for i in range(M.r):
                fmpz_add(at(M, i, s), at(M, i, s), at(T, i, s))
            continue
        fmpz_gcd(left, md + s, td + s)
        fmpz_divexact(right, md + s, left)      # lcm / td
        fmpz_divexact(left, td + s, left)       # lcm / md
        for i in range(M.r):
            fmpz_mul(at(M, i, s), at(M, i, s), left)
            bitprop_addmul(at(M, i, s), at(T, i, s), right)
        fmpz_mul(md + s, md + s, left)


cdef void _scaled(fmpz *out, const fmpq *x, const fmpz *D, fmpz *tmp) noexcept:
    """out := x * D for D a multiple of x's denominator."""
    fmpz_divexact(tmp, D, fmpq_denref(x))
    fmpz_mul(out, fmpq_numref(x), tmp)
