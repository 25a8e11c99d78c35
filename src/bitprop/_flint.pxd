# cython: language_level=3
# Declarations of the FLINT 2.9 and GMP calls bitprop uses, written against Debian's
# libflint-dev headers (flint/fmpz.h, flint/fmpq.h, flint/fmpz_mat.h).
# Declarations only: behaviour lives in the .pyx modules.

from libc.stddef cimport size_t

cdef extern from "gmp.h":
    void mp_set_memory_functions(void *(*alloc)(size_t) noexcept nogil,
                                 void *(*realloc)(void *, size_t, size_t) noexcept nogil,
                                 void (*free)(void *, size_t) noexcept nogil)

cdef extern from "flint/flint.h" nogil:
    ctypedef long slong
    ctypedef unsigned long ulong
    ctypedef unsigned long flint_bitcnt_t
    void *flint_malloc(size_t size)     # aborts without memory, as every FLINT allocation
    void *flint_realloc(void *ptr, size_t size)
    void flint_free(void *ptr)
    void flint_cleanup()        # frees this thread's FLINT caches (call as a worker exits)
    void __flint_set_memory_functions(void *(*alloc)(size_t) noexcept nogil,
                                      void *(*calloc)(size_t, size_t) noexcept nogil,
                                      void *(*realloc)(void *, size_t) noexcept nogil,
                                      void (*free)(void *) noexcept nogil)

cdef extern from "flint/fmpz.h" nogil:
    ctypedef slong fmpz
    ctypedef fmpz fmpz_t[1]

    void fmpz_init(fmpz_t f)
    void fmpz_clear(fmpz_t f)
    void fmpz_set(fmpz_t f, const fmpz_t g)
    void fmpz_set_si(fmpz_t f, slong val)
    void fmpz_set_ui(fmpz_t f, ulong val)
    slong fmpz_get_si(const fmpz_t f)
    ulong fmpz_get_ui(const fmpz_t f)
    int fmpz_fits_si(const fmpz_t f)
    int fmpz_abs_fits_ui(const fmpz_t f)
    ulong fmpz_fdiv_ui(const fmpz_t g, ulong h)
    void fmpz_zero(fmpz_t f)
    void fmpz_one(fmpz_t f)
    void fmpz_swap(fmpz_t f, fmpz_t g)
    int fmpz_is_zero(const fmpz_t f)
    int fmpz_is_one(const fmpz_t f)
    int fmpz_is_even(const fmpz_t f)
    int fmpz_is_odd(const fmpz_t f)
    int fmpz_sgn(const fmpz_t f)
    int fmpz_cmp_ui(const fmpz_t f, ulong g)
    int fmpz_cmp(const fmpz_t f, const fmpz_t g)
    int fmpz_cmpabs(const fmpz_t f, const fmpz_t g)
    int fmpz_equal(const fmpz_t f, const fmpz_t g)
    void fmpz_neg(fmpz_t f, const fmpz_t g)
    void fmpz_abs(fmpz_t f, const fmpz_t g)
    void fmpz_add(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_sub(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_add_ui(fmpz_t f, const fmpz_t g, ulong x)
    void fmpz_sub_ui(fmpz_t f, const fmpz_t g, ulong x)
    void fmpz_mul(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_mul_si(fmpz_t f, const fmpz_t g, slong x)
    void fmpz_mul_ui(fmpz_t f, const fmpz_t g, ulong x)
    void fmpz_addmul(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_submul(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_mul_2exp(fmpz_t f, const fmpz_t g, ulong exp)
    void fmpz_fdiv_q_2exp(fmpz_t f, const fmpz_t g, ulong exp)
    void fmpz_fdiv_r_2exp(fmpz_t f, const fmpz_t g, ulong exp)
    void fmpz_tdiv_q_2exp(fmpz_t f, const fmpz_t g, ulong exp)
    void fmpz_fdiv_q(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_fdiv_qr(fmpz_t f, fmpz_t s, const fmpz_t g, const fmpz_t h)
    void fmpz_tdiv_q(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_divexact(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_divexact_ui(fmpz_t f, const fmpz_t g, ulong h)
    int fmpz_divisible_si(const fmpz_t f, slong g)
    slong fmpz_remove(fmpz_t rop, const fmpz_t op, const fmpz_t f)
    void fmpz_gcd(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_lcm(fmpz_t f, const fmpz_t g, const fmpz_t h)
    void fmpz_pow_ui(fmpz_t f, const fmpz_t g, ulong exp)
    void fmpz_powm_ui(fmpz_t f, const fmpz_t g, ulong exp, const fmpz_t m)
    void fmpz_powm(fmpz_t f, const fmpz_t g, const fmpz_t e, const fmpz_t m)
    void fmpz_mod(fmpz_t f, const fmpz_t g, const fmpz_t h)
    flint_bitcnt_t fmpz_bits(const fmpz_t f)
    flint_bitcnt_t fmpz_val2(const fmpz_t f)
    void fmpz_one_2exp(fmpz_t f, ulong exp)
    int fmpz_tstbit(const fmpz_t f, ulong i)
    slong fmpz_size(const fmpz_t f)
    void fmpz_set_signed_ui_array(fmpz_t out, const ulong *inp, slong n)
    void fmpz_get_signed_ui_array(ulong *out, slong n, const fmpz_t inp)
    void fmpz_set_ui_array(fmpz_t out, const ulong *inp, slong n)
    void fmpz_get_ui_array(ulong *out, slong n, const fmpz_t inp)
    char *fmpz_get_str(char *s, int base, const fmpz_t f)
    size_t fmpz_sizeinbase(const fmpz_t f, int base)
    int fmpz_set_str(fmpz_t f, const char *s, int base)

cdef extern from "flint/fmpq.h" nogil:
    ctypedef struct fmpq:
        fmpz num
        fmpz den
    ctypedef fmpq fmpq_t[1]

    fmpz *fmpq_numref(const fmpq_t x)
    fmpz *fmpq_denref(const fmpq_t x)
    void fmpq_init(fmpq_t x)
    void fmpq_clear(fmpq_t x)
    void fmpq_set(fmpq_t dest, const fmpq_t src)
    void fmpq_swap(fmpq_t a, fmpq_t b)
    void fmpq_zero(fmpq_t x)
    void fmpq_one(fmpq_t x)
    int fmpq_is_zero(const fmpq_t x)
    int fmpq_is_one(const fmpq_t x)
    int fmpq_equal(const fmpq_t x, const fmpq_t y)
    int fmpq_sgn(const fmpq_t x)
    int fmpq_cmp(const fmpq_t x, const fmpq_t y)
    void fmpq_neg(fmpq_t dest, const fmpq_t src)
    void fmpq_abs(fmpq_t dest, const fmpq_t src)
    void fmpq_canonicalise(fmpq_t x)
    int fmpq_is_canonical(const fmpq_t x)
    void fmpq_set_fmpz_frac(fmpq_t res, const fmpz_t p, const fmpz_t q)
    void fmpq_set_si(fmpq_t res, slong p, ulong q)
    void fmpq_add(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_sub(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_mul(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_div(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_addmul(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_submul(fmpq_t res, const fmpq_t a, const fmpq_t b)
    void fmpq_add_fmpz(fmpq_t res, const fmpq_t a, const fmpz_t b)
    void fmpq_mul_fmpz(fmpq_t res, const fmpq_t a, const fmpz_t b)
    void fmpq_div_fmpz(fmpq_t res, const fmpq_t a, const fmpz_t b)
    void fmpq_mul_2exp(fmpq_t res, const fmpq_t x, flint_bitcnt_t exp)
    void fmpq_div_2exp(fmpq_t res, const fmpq_t x, flint_bitcnt_t exp)
    void fmpq_mul_si(fmpq_t res, const fmpq_t a, slong b)
    fmpq *_fmpq_vec_init(slong n)
    void _fmpq_vec_clear(fmpq *vec, slong n)

cdef extern from "flint/fmpz_vec.h" nogil:
    fmpz *_fmpz_vec_init(slong n)
    void _fmpz_vec_zero(fmpz *vec, slong len)
    void _fmpz_vec_clear(fmpz *vec, slong n)

cdef extern from "flint/fmpz_mat.h" nogil:
    ctypedef struct fmpz_mat_struct:
        fmpz *entries
        slong r
        slong c
        fmpz **rows
    ctypedef fmpz_mat_struct fmpz_mat_t[1]
    void fmpz_mat_init(fmpz_mat_t mat, slong rows, slong cols)
    void fmpz_mat_clear(fmpz_mat_t mat)
    void fmpz_mat_mul(fmpz_mat_t C, const fmpz_mat_t A, const fmpz_mat_t B)
    void fmpz_mat_transpose(fmpz_mat_t B, const fmpz_mat_t A)
    void fmpz_mat_mul_classical_inline(fmpz_mat_t C, const fmpz_mat_t A, const fmpz_mat_t B)

cdef extern from "flint/ulong_extras.h" nogil:
    ctypedef struct n_factor_t:
        int num
        int exp[15]
        ulong p[15]
    void n_factor_init(n_factor_t *factors)
    void n_factor(n_factor_t *factors, ulong n, int proved)

cdef extern from "flint/fmpz_factor.h" nogil:
    ctypedef struct fmpz_factor_struct:
        int sign
        fmpz *p
        ulong *exp
        slong alloc
        slong num
    ctypedef fmpz_factor_struct fmpz_factor_t[1]
    void fmpz_factor_init(fmpz_factor_t factor)
    void fmpz_factor_clear(fmpz_factor_t factor)
    int fmpz_factor_trial(fmpz_factor_t factor, const fmpz_t n, slong num_primes)
