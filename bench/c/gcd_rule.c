/* bitprop._factored's measured rule, on the FLINT 2.9 calls the kernels make.
 *
 * For a denominator of 2^k words (a product of random primes below 2^16) and random numbers
 * of its size, k = 0 .. 12: the seconds of one fmpz_gcd of a number with it, of one remainder
 * of a number by a word (fmpz_fdiv_ui by a product of such primes that fits a word: what a
 * group of the base costs), and of one multiplication mod it (fmpz_mul, then fmpz_mod: what
 * a member of a batch costs), each the best of 5 means over a chain of calls. One line a
 * size: "k gcd_seconds remainder_seconds mulmod_seconds".
 *
 * usage: bench_gcd_rule
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include <flint/flint.h>
#include <flint/fmpz.h>
#include <flint/ulong_extras.h>

#define NUMBERS 16

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    flint_rand_t state;
    flint_randinit(state);
    for (int k = 0; k <= 12; k++) {
        slong bits = 64 << k, reps = 2 + 20000 / (1 << k);
        fmpz_t den, acc, g, x[NUMBERS];
        double best_gcd = 1e30, best_rem = 1e30, best_mulmod = 1e30;
        ulong group = 1, p, sink = 0;
        while (1) {
            do p = n_randint(state, 1 << 16); while (!n_is_prime(p) || p < 3);
            if (group > UWORD_MAX / p)
                break;
            group *= p;
        }
        fmpz_init(den);
        fmpz_init(acc);
        fmpz_init(g);
        fmpz_one(den);
        while ((slong) fmpz_bits(den) < bits) {
            do p = n_randint(state, 1 << 16); while (!n_is_prime(p));
            fmpz_mul_ui(den, den, p);
        }
        for (int i = 0; i < NUMBERS; i++) {
            fmpz_init(x[i]);
            fmpz_randbits(x[i], state, bits);
            fmpz_mod(x[i], x[i], den);
        }
        for (int round = 0; round < 5; round++) {
            double started = now(), t;
            for (slong r = 0; r < reps; r++)
                for (int i = 0; i < NUMBERS; i++)
                    fmpz_gcd(g, x[i], den);
            t = (now() - started) / (reps * NUMBERS);
            best_gcd = t < best_gcd ? t : best_gcd;
            started = now();
            for (slong r = 0; r < 20 * reps; r++)
                for (int i = 0; i < NUMBERS; i++)
                    sink += fmpz_fdiv_ui(x[i], group);
            t = (now() - started) / (20 * reps * NUMBERS);
            best_rem = t < best_rem ? t : best_rem;
            started = now();
            fmpz_set(acc, x[0]);
            for (slong r = 0; r < reps; r++)
                for (int i = 0; i < NUMBERS; i++) {
                    fmpz_mul(acc, acc, x[i]);
                    fmpz_mod(acc, acc, den);
                }
            t = (now() - started) / (reps * NUMBERS);
            best_mulmod = t < best_mulmod ? t : best_mulmod;
        }
        printf("%d %.9g %.9g %.9g\n", k, best_gcd, best_rem + 1e-30 * sink, best_mulmod);
        fflush(stdout);
        for (int i = 0; i < NUMBERS; i++)
            fmpz_clear(x[i]);
        fmpz_clear(den);
        fmpz_clear(acc);
        fmpz_clear(g);
    }
    flint_randclear(state);
    return 0;
}
