# cython: language_level=3
# Declarations of the Arb 2.23 ball-arithmetic calls bitprop uses (Debian's libflint-arb-dev,
# built on the same FLINT 2.9 as _flint.pxd; headers arb.h, arb_mat.h; library -lflint-arb).
# A ball is a midpoint (arf) and a radius (mag) that provably contain the exact value.
# Declarations only: behaviour lives in the _ball*.pyx modules. setup.py links every module
# whose name starts with "_ball" against flint-arb.

from bitprop._flint cimport slong, ulong, fmpz, fmpz_t, fmpq, fmpq_t

cdef extern from "mag.h" nogil:
    ctypedef struct mag_struct:
        pass
    ctypedef mag_struct mag_t[1]
    ctypedef mag_struct *mag_ptr
    void mag_init(mag_t x)
    void mag_clear(mag_t x)
    int mag_is_zero(const mag_t x)
    double mag_get_d_log2_approx(const mag_t x)
    double mag_get_d(const mag_t x)
    void mag_zero(mag_t x)

cdef extern from "arf.h" nogil:
    ctypedef struct arf_struct:
        pass
    ctypedef arf_struct arf_t[1]
    ctypedef arf_struct *arf_ptr
    ctypedef int arf_rnd_t
    int ARF_RND_DOWN
    int ARF_RND_NEAR
    void arf_init(arf_t x)
    void arf_clear(arf_t x)
    int arf_sgn(const arf_t x)
    int arf_is_zero(const arf_t x)
    void arf_get_fmpz_2exp(fmpz_t m, fmpz_t e, const arf_t x)
    void arf_abs_bound_lt_2exp_fmpz(fmpz_t b, const arf_t x)
    double arf_get_d(const arf_t x, arf_rnd_t rnd)
    void arf_set_mag(arf_t y, const mag_t x)
    int arf_equal(const arf_t x, const arf_t y)
    int arf_floor(arf_t y, const arf_t x)
    int arf_ceil(arf_t y, const arf_t x)
    void arf_set_fmpz_2exp(arf_t x, const fmpz_t m, const fmpz_t e)
    void arf_get_mag(mag_t y, const arf_t x)

cdef extern from "arb.h" nogil:
    ctypedef struct arb_struct:
        arf_struct mid
        mag_struct rad
    ctypedef arb_struct arb_t[1]
    ctypedef arb_struct *arb_ptr
    ctypedef const arb_struct *arb_srcptr

    arf_ptr arb_midref(const arb_t x)
    mag_ptr arb_radref(const arb_t x)

    void arb_init(arb_t x)
    void arb_clear(arb_t x)
    arb_ptr _arb_vec_init(slong n)
    void _arb_vec_clear(arb_ptr v, slong n)
    void arb_swap(arb_t x, arb_t y)

    void arb_zero(arb_t x)
    void arb_one(arb_t x)
    void arb_set(arb_t y, const arb_t x)
    void arb_set_round(arb_t y, const arb_t x, slong prec)
    void arb_set_si(arb_t y, slong x)
    void arb_set_fmpz(arb_t y, const fmpz_t x)
    void arb_set_round_fmpz(arb_t y, const fmpz_t x, slong prec)
    void arb_set_fmpq(arb_t y, const fmpq_t x, slong prec)
    void arb_get_mid_arb(arb_t z, const arb_t x)
    void arb_get_rad_arb(arb_t z, const arb_t x)
    void arb_get_mag(mag_t z, const arb_t x)
    void arb_get_mag_lower(mag_t z, const arb_t x)
    char *arb_get_str(const arb_t x, slong n, ulong flags)

    void arb_neg(arb_t y, const arb_t x)
    void arb_abs(arb_t y, const arb_t x)
    void arb_add(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_sub(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_mul(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_sqr(arb_t y, const arb_t x, slong prec)
    void arb_addmul(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_submul(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_mul_fmpz(arb_t z, const arb_t x, const fmpz_t y, slong prec)
    void arb_add_fmpz(arb_t z, const arb_t x, const fmpz_t y, slong prec)
    void arb_div(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_div_fmpz(arb_t z, const arb_t x, const fmpz_t y, slong prec)
    void arb_mul_2exp_si(arb_t y, const arb_t x, slong e)
    void arb_pow_ui(arb_t y, const arb_t b, ulong e, slong prec)
    void arb_pow_fmpz(arb_t y, const arb_t b, const fmpz_t e, slong prec)
    void arb_dot(arb_t res, const arb_t initial, int subtract, arb_srcptr x, slong xstep,
                 arb_srcptr y, slong ystep, slong len, slong prec)
    void arb_max(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_min(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_nonnegative_part(arb_t res, const arb_t x)
    void arb_floor(arb_t z, const arb_t x, slong prec)
    void arb_log_base_ui(arb_t res, const arb_t x, ulong b, slong prec)
    void arb_log(arb_t z, const arb_t x, slong prec)

    int arb_is_exact(const arb_t x)
    int arb_is_zero(const arb_t x)
    int arb_is_finite(const arb_t x)
    int arb_contains_zero(const arb_t x)
    int arb_is_positive(const arb_t x)
    int arb_is_negative(const arb_t x)
    int arb_is_nonnegative(const arb_t x)
    int arb_is_nonpositive(const arb_t x)
    int arb_contains_fmpq(const arb_t x, const fmpq_t y)
    int arb_contains_fmpz(const arb_t x, const fmpz_t y)
    int arb_get_unique_fmpz(fmpz_t z, const arb_t x)
    slong arb_rel_accuracy_bits(const arb_t x)
    slong arb_bits(const arb_t x)
    int arb_le(const arb_t x, const arb_t y)
    int arb_gt(const arb_t x, const arb_t y)
    int arb_equal(const arb_t x, const arb_t y)
    void arb_union(arb_t z, const arb_t x, const arb_t y, slong prec)
    void arb_set_interval_arf(arb_t x, const arf_t a, const arf_t b, slong prec)
    void arb_get_lbound_arf(arf_t u, const arb_t x, slong prec)
    void arb_get_ubound_arf(arf_t u, const arb_t x, slong prec)
    void arb_mul_2exp_fmpz(arb_t y, const arb_t x, const fmpz_t e)
    void arb_ceil(arb_t z, const arb_t x, slong prec)

cdef extern from "arb_mat.h" nogil:
    ctypedef struct arb_mat_struct:
        arb_ptr entries
        slong r
        slong c
        arb_ptr *rows
    ctypedef arb_mat_struct arb_mat_t[1]
    arb_ptr arb_mat_entry(arb_mat_t mat, slong i, slong j)
    void arb_mat_init(arb_mat_t mat, slong r, slong c)
    void arb_mat_clear(arb_mat_t mat)
    void arb_mat_zero(arb_mat_t mat)
    void arb_mat_mul(arb_mat_t res, const arb_mat_t mat1, const arb_mat_t mat2, slong prec)
    void arb_mat_mul_classical(arb_mat_t res, const arb_mat_t mat1, const arb_mat_t mat2,
                               slong prec)
    void arb_mat_transpose(arb_mat_t dest, const arb_mat_t src)
