"""``bitprop slp eval|bnslp`` and ``bitprop gadget``: argument parsing and printing only."""

from fractions import Fraction

import click

from ..certify import MAX_DIGITS, certify_slp
from ..errors import BitpropInputError
from ..numbers import bit_length, to_str
from ..slp import Program, bounded_norm, evaluate, gadget_coefficients, parse_polynomial
from ..slp.circuit import evaluate_via_network
from ..slp.polynomial import polynomial_text
from ..jsonfiles import read_text
from .certified import certify_options, certify_settings, how
from .common import budget_whole_command, emit_json, json_option, reporter, take_time_budget

#: slp eval's --max-bits when none is given: 2^30 bits (128 MiB) per gate, so that a program
#: of repeated squarings stops with an error instead of exhausting memory.
DEFAULT_MAX_BITS = 1 << 30


def register(group):
    group.add_command(slp)
    group.add_command(gadget)


def read_program(path):
    """(program, display name) of a JSON or text SLP file (``-`` is stdin)."""
    text, name = read_text(path)
    return Program.parse(text, name), name


@click.group()
def slp():
    """Straight-line programs: PosSLP, BitSLP, and bounded-norm SLPs (Lemma A.5)."""


@slp.command("eval")
@click.argument("prog")
@click.option("--sign", is_flag=True, help="Answer PosSLP: print the sign of x_n (-1, 0, 1).")
@click.option("--bit", type=click.IntRange(min=0), metavar="K",
              help="Answer BitSLP: print bit K of |x_n| (K = 0 is the least significant).")
@click.option("--max-bits", type=click.IntRange(min=0), metavar="N", default=DEFAULT_MAX_BITS,
              show_default=True,
              help="Stop (exit status 1) at the first gate whose value has more than N bits "
                   "(the default keeps a gate under 128 MiB: a squaring doubles the bits).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", callback=budget_whole_command,
              help="Stop (exit status 1) after S seconds, reading PROG included.")
@click.option("--no-value", is_flag=True,
              help="Do not print x_n itself (printing a huge value in decimal is optional; "
                   "sign, bits and bit length never need it).")
@click.option("--via-network", metavar="SIGMA",
              help="Compute x_n with the network evaluator instead, on the SLP's circuit "
                   "network (Lemma 3.2) for the polynomial activation SIGMA (POLY).")
@certify_options
@click.option("--digits", type=click.IntRange(1, MAX_DIGITS), metavar="D", default=None,
              help="With --certify: also certify log2 |x_n| to D significant digits.")
@json_option
def eval_command(prog, sign, bit, max_bits, time_budget, no_value, via_network, certify,
                 precision, max_precision, digits, as_json):
    """Evaluate the SLP in PROG (JSON or text form) exactly: x_n, its sign, a bit of it.

    Without --sign/--bit, prints x_n, its sign and its bit length; with them, only the
    answers asked for. --json always has the keys value (null with --no-value), sign,
    bit (null without --bit) and bit_length. With --certify, see docs/formats.md.
    """
    given = click.get_current_context().get_parameter_source("max_bits")
    settings = certify_settings(certify, precision, max_precision,
                                None if given == click.core.ParameterSource.DEFAULT else max_bits)
    program, name = read_program(prog)
    if settings is not None:
        if via_network is not None:
            raise click.UsageError("--certify evaluates the SLP itself; drop --via-network")
        _certified_eval(program, name, bit, digits, settings, take_time_budget(time_budget),
                        as_json)
        return
    if digits is not None:
        raise click.UsageError("--digits goes with --certify")
    if via_network is None:
        result = evaluate(program, max_bits=max_bits, time_budget=time_budget)
    else:
        result = _NetworkValue(evaluate_via_network(
            program, via_network, max_bits=max_bits, time_budget=time_budget,
            where="--via-network"), len(program))
    try:
        answer = None if bit is None else result.bit(bit)
    except BitpropInputError as err:
        raise err.at(name) from None
    if as_json:
        doc = {"value": None if no_value else result.to_str(), "sign": result.sign,
               "bit": answer, "bit_length": result.bit_length, "gates": len(program),
               "gates_evaluated": result.gates_evaluated,
               "max_gate_bits": result.max_gate_bits}
        if via_network is not None:
            doc["via_network"] = parse_polynomial(via_network, "--via-network")
        emit_json(doc)
        return
    asked = sign or bit is not None
    if not (asked or no_value):
        click.echo(f"x{len(program)} = {result.to_str()}")
    if sign or not asked:
        click.echo(f"sign: {result.sign}")
    if bit is not None:
        click.echo(f"bit {bit}: {answer}")
    if not asked:
        click.echo(f"bit_length: {result.bit_length}")


def _certified_eval(program, name, bit, digits, settings, time_budget, as_json):
    """slp eval --certify: the escalation of certify.certify_slp, printed. The sign is always
    asked (--sign or not), so that "sign": null means undecided, never "not asked"."""
    try:
        result = certify_slp(program, sign=True, bit=bit, digits=digits,
                             time_budget=time_budget, **settings)
    except BitpropInputError as err:
        raise err.at(name) from None
    if as_json:
        emit_json(result.to_json() | {"gates": len(program)})
        return
    click.echo(how(result))
    shown = {"sign": "sign", "bit": f"bit {bit}", "magnitude": "log2 |x_n|"}
    for key, answer in result.answers.items():
        click.echo(f"{shown[key]}: {'undecided' if answer is None else _shown_answer(answer)}")
    click.echo(f"ball: {result.ball.approx()}")


def _shown_answer(answer):
    if isinstance(answer, tuple):
        return "-inf (x_n = 0)" if answer[0] is None else f"in [{answer[0]}, {answer[1]}]"
    return str(answer)


class _NetworkValue:
    """x_n computed by the network evaluator (a Fraction), answering like an SlpValue."""

    max_gate_bits = None

    def __init__(self, value, gates):
        self.value, self.gates_evaluated = value, gates
        self.sign = (value > 0) - (value < 0)
        self.bit_length = bit_length(value)

    def bit(self, k):
        if self.value.denominator != 1:
            raise BitpropInputError(f"bit {k} asked for, but x_n is not an integer; BitSLP "
                                    "is defined for integer outputs", path="bit")
        return (abs(self.value.numerator) >> k) & 1

    def to_str(self):
        return to_str(self.value)


@slp.command("bnslp")
@click.argument("prog")
@click.option("-o", "--output", required=True, metavar="BN",
              help="Where to write the BN-SLP (text form for .txt/.slp, JSON otherwise).")
@json_option
def bnslp_command(prog, output, as_json):
    """Lemma A.5: a BN-SLP (constant 1/2, every gate in [-1, 1]) computing x_n * 2^-e.

    --json keys: e (a string, as every exact number: it can have thousands of digits), length.
    """
    echo = reporter(output, as_json)
    program, name = read_program(prog)
    try:
        bn = bounded_norm(program)
    except BitpropInputError as err:
        raise err.at(name) from None
    bn.program.save(output)
    e = to_str(Fraction(bn.e))
    if as_json:
        emit_json({"e": e, "length": bn.length, "gates": len(program)})
    else:
        echo(f"wrote {output}: {bn.length} gates, output x{bn.length} = "
                   f"x{len(program)} * 2^-e with e = {e}")


@click.command("gadget")
@click.option("--sigma", required=True, metavar="POLY",
              help="The activation: 'z^2', '3/2*z^3 - z + 1/5', or a JSON list c_0..c_d.")
@json_option
def gadget(sigma, as_json):
    """Lemma 3.1: lambda_j with sum_j lambda_j (s(x+y+j) - s(x+j) - s(y+j)) = x*y."""
    coefficients = parse_polynomial(sigma, "--sigma")
    lambdas = gadget_coefficients(coefficients, "--sigma")
    if as_json:
        emit_json({"lambdas": lambdas, "sigma": coefficients, "degree": len(coefficients) - 1})
        return
    click.echo(f"sigma(z) = {polynomial_text(coefficients)}")
    for j, value in enumerate(lambdas):
        click.echo(f"lambda_{j} = {to_str(value)}")
