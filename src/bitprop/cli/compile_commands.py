"""``bitprop compile erm|backprop`` and ``bitprop solve``: argument parsing and printing only."""

import time

import click

from ..certify_network import certify_solve
from ..errors import BitpropInputError
from ..instance import Instance, gap_to_json, read_theta, solve, verify
from ..jsonfiles import read_json
from ..numbers import rational, to_str
from ..slp.compile_backprop import compile_backprop
from ..slp.compile_erm import SCHEMES, compile_erm
from ..slp.compile_hinge import compile_hinge
from ..slp.compile_scalar import WITNESS_BITS, compile_scalar
from .certified import certify_options, certify_settings, emit_solve
from .common import (Progress, emit_json, evaluation_options, json_option, reporter,
                     take_time_budget)
from .slp_commands import read_program


def register(group):
    group.add_command(compile_group)
    group.add_command(solve_command)
    group.add_command(verify_command)


def _short(q, limit=60):
    text = to_str(q)
    return text if len(text) <= limit else f"{text[:limit // 2]}...({len(text)} chars)"


def _compiled(compile_, name):
    """Run a compiler; errors about the program (not about an option) name its file."""
    try:
        return compile_()
    except BitpropInputError as err:
        if err.path and err.path.startswith("--"):
            raise
        raise err.at(name) from None


def _gap_option(gap):
    """(A, B) of --gap A B, 0 <= A < B."""
    low, high = (rational(q, "--gap") for q in gap)
    if not 0 <= low < high:
        raise BitpropInputError(f"[{to_str(low)}, {to_str(high)}] needs 0 <= A < B",
                                path="--gap")
    return low, high


@click.group("compile")
def compile_group():
    """Compile an SLP question into a network problem instance (bitprop.instance/1)."""


@compile_group.command("erm")
@click.argument("prog")
@click.option("--bit", "bit", type=click.IntRange(min=0), metavar="K",
              help="The BitSLP question: is bit K of |x_n| equal to 1? (Lemma 3.2)")
@click.option("--sign", is_flag=True,
              help="The PosSLP question, is x_n > 0?, with the hinge loss (Remark B.3).")
@click.option("--sigma", required=True, metavar="POLY",
              help="The polynomial activation, degree >= 2: 'z^2', '3/2*z^3 - z', [c0, c1, ...].")
@click.option("--gap", nargs=2, default=("0", "1"), show_default=True, metavar="A B",
              help="The promise gap: YES has min L <= A, NO has min L >= B (0 <= A < B).")
@click.option("--forcing", type=click.Choice(SCHEMES), default="compact", show_default=True,
              help="Forcing samples: 'compact' (a constant number, all edges at once) or "
                   "'paper' (Claim B.1's one template per edge; quadratic size).")
@click.option("--bounded", is_flag=True,
              help="Compile the bounded-norm SLP of Lemma A.5 (values in a constant range).")
@click.option("--scalar", is_flag=True,
              help="With --bit: Remark B.2, one input and one output, theta* pinned by a "
                   "centred quadratic regulariser instead of forcing samples.")
@click.option("--witness-bits", type=click.IntRange(min=1), default=WITNESS_BITS,
              show_default=True, metavar="B",
              help="With --scalar: witnesses have denominators <= 2^B (sets lambda).")
@click.option("-o", "--output", required=True, metavar="INST", help="Where to write the instance.")
@json_option
def erm_command(prog, bit, sign, sigma, gap, forcing, bounded, scalar, witness_bits, output,
                as_json):
    """Lemma 3.2: the BitSLP question on PROG (--bit K) as an ERM_bit instance (witness
    theta*); with --sign, Remark B.3: the PosSLP question with the hinge loss."""
    if sign == (bit is not None):
        raise click.UsageError("give exactly one of --bit K and --sign")
    if sign and bounded:
        raise click.UsageError("--bounded goes with --bit (Lemma A.5 for the bit loss)")
    if scalar and (sign or bounded):
        raise click.UsageError("--scalar goes with --bit alone (Remark B.2)")
    echo = reporter(output, as_json)
    program, name = read_program(prog)
    low, high = _gap_option(gap)
    if scalar:
        compile_ = lambda: compile_scalar(program, bit, sigma, gap=(low, high),  # noqa: E731
                                          witness_bits=witness_bits, where="--sigma")
    elif sign:
        compile_ = lambda: compile_hinge(program, sigma, gap=(low, high),    # noqa: E731
                                         forcing=forcing, where="--sigma")
    else:
        compile_ = lambda: compile_erm(program, bit, sigma, gap=(low, high),  # noqa: E731
                                       forcing=forcing, bounded=bounded, where="--sigma")
    instance = _compiled(compile_, name)
    instance.save(output)
    network = instance.network
    aux = 0 if instance.forcing is None else len(instance.forcing.dataset)
    samples = len(instance.dataset) + aux
    regularizer = instance.regularizer
    if as_json:
        emit_json({"vertices": network.num_vertices, "edges": network.num_edges,
                   "samples": samples, "main_samples": len(instance.dataset),
                   "forcing_samples": aux, "problem": "erm", "threshold": instance.threshold,
                   "gap": gap_to_json(instance.gap),
                   "regularizer_weight": None if regularizer is None else regularizer.weight,
                   "relation": instance.source.relation, "output": output})
        return
    pinned = (f"regularizer weight {_short(regularizer.weight)}" if regularizer is not None
              else f"{aux} forcing, {forcing}")
    echo(f"wrote {output}: erm, {network.num_vertices} vertices, {network.num_edges} "
               f"edges, {samples} samples ({pinned})")
    echo(instance.source.relation)


@compile_group.command("backprop")
@click.argument("prog")
@click.option("--sign", is_flag=True, help="PosSLP -> Backprop-Sign: the sign of x_n.")
@click.option("--bit", "bit", type=click.IntRange(min=0), metavar="K",
              help="BitSLP -> Backprop-Bit: bit K of |x_n|.")
@click.option("--sigma", required=True, metavar="POLY",
              help="The polynomial activation, degree >= 2: 'z^2', '3/2*z^3 - z', [c0, c1, ...].")
@click.option("--bounded", is_flag=True,
              help="Compile the bounded-norm SLP of Lemma A.5: every vertex value stays in a "
                   "constant range.")
@click.option("--gap", nargs=2, default=None, metavar="A B",
              help="With --sign: the promise gap (NO has dL/dw <= A, YES has dL/dw >= B; "
                   "0 <= A < B), made by integer copies of the sample. Default: [0, 2], or "
                   "[0, 2^(1-e)] with --bounded.")
@click.option("-o", "--output", required=True, metavar="INST", help="Where to write the instance.")
@json_option
def backprop_command(prog, sign, bit, sigma, bounded, gap, output, as_json):
    """Theorem 1.3: PROG's sign (--sign) or bit K (--bit K) as one gradient coordinate."""
    if sign == (bit is not None):
        raise click.UsageError("give exactly one of --sign and --bit K")
    if gap is not None and not sign:
        raise click.UsageError("--gap goes with --sign (Backprop-Sign with a promise)")
    echo = reporter(output, as_json)
    program, name = read_program(prog)
    if gap is not None:
        gap = _gap_option(gap)
    instance = _compiled(lambda: compile_backprop(program, sigma, bit=bit, bounded=bounded,
                                                  gap=gap, where="--sigma"), name)
    instance.save(output)
    network = instance.network
    if as_json:
        emit_json({"vertices": network.num_vertices, "edges": network.num_edges,
                   "query": instance.query.to_json(), "problem": instance.problem,
                   "threshold": instance.threshold,
                   "gap": gap_to_json(instance.gap),
                   "copies": int(instance.dataset.weights[0]),
                   "relation": instance.source.relation, "output": output})
        return
    echo(f"wrote {output}: {instance.problem}, {network.num_vertices} vertices, "
               f"{network.num_edges} edges, query edge {instance.query.edge} "
               f"({network.edges[instance.query.edge].source} -> "
               f"{network.edges[instance.query.edge].target})")
    echo(instance.source.relation)


@click.command("solve")
@click.argument("instance_path", metavar="INST")
@certify_options
@evaluation_options
def solve_command(instance_path, certify, precision, max_precision, max_bits, time_budget,
                  threads, allow_float, progress, as_json):
    """Evaluate a bitprop.instance/1 at its parameters theta*: L(theta*), and for backprop
    problems the queried gradient coordinate, its sign and bit; then the answer. With
    --certify, the answers certified with ball arithmetic, past exact reach."""
    started = time.perf_counter()
    settings = certify_settings(certify, precision, max_precision, max_bits)
    instance = Instance.load(instance_path, allow_float=allow_float)
    loaded = time.perf_counter()
    if settings is not None:
        emit_solve(instance, certify_solve(instance, time_budget=take_time_budget(time_budget),
                                           threads=threads, **settings), DECIDES, as_json)
        return
    with Progress("solve", progress) as bar:
        solution = solve(instance, max_bits=max_bits, time_budget=time_budget,
                         threads=threads, progress=bar)
    timing = {"load": loaded - started, "solve": time.perf_counter() - loaded}
    if as_json:
        emit_json({**solution.to_json(), "decides": DECIDES, "relation":
                   instance.source.relation, "timing": timing})
        return
    click.echo(f"problem: {instance.problem}")
    _print_solution(instance, solution)
    click.echo(f"decides: {DECIDES}")


#: What solve decides, in its output: the instance at its own parameters.
DECIDES = ("the restricted problem at theta*, the instance's own parameters; "
           "bitprop verify INST --theta FILE checks any other theta")


@click.command("verify")
@click.argument("instance_path", metavar="INST")
@click.option("--theta", "theta_path", required=True, metavar="FILE",
              help="The parameters to check: a JSON list of the 2E rationals (edges[i].weight, "
                   "edges[i].bias in edge order) or a bitprop.network/1 with the same edges.")
@evaluation_options
def verify_command(instance_path, theta_path, max_bits, time_budget, threads, allow_float,
                   progress, as_json):
    """The certificate check: evaluate INST at the parameters in FILE instead of theta*.
    For erm, L(theta) exactly and whether L(theta) <= threshold: a YES certificate of the
    restricted ERM problem (Theorem E.2) when it holds; for backprop problems, the queried
    gradient coordinate at theta."""
    started = time.perf_counter()
    instance = Instance.load(instance_path, allow_float=allow_float)
    document, name = read_json(theta_path)
    weights, biases = read_theta(document, instance.network, file=name,
                                 allow_float=allow_float)
    loaded = time.perf_counter()
    with Progress("verify", progress) as bar:
        solution = verify(instance, weights, biases, max_bits=max_bits,
                          time_budget=time_budget, threads=threads, progress=bar)
    timing = {"load": loaded - started, "verify": time.perf_counter() - loaded}
    if as_json:
        emit_json({**solution.to_json(), "theta": theta_path, "threshold":
                   instance.threshold, "relation": instance.source.relation,
                   "timing": timing})
        return
    click.echo(f"problem: {instance.problem}, evaluated at theta from {theta_path}")
    _print_solution(instance, solution)
    if instance.problem == "erm":
        verdict = "accepted" if solution.answer else "rejected"
        click.echo(f"certificate {verdict}: L(theta) {'<=' if solution.answer else '>'} "
                   f"threshold {_short(instance.threshold)}")


def _print_solution(instance, solution):
    click.echo(f"loss: {_short(solution.loss)}")
    if solution.parts is not None:
        click.echo("  " + ", ".join(f"{part}: {_short(value)}"
                                    for part, value in solution.parts.items()))
    if solution.gradient is not None:
        query = instance.query
        click.echo(f"dL/d{query.coordinate}[{query.edge}]: {_short(solution.gradient)}")
        click.echo(f"sign: {solution.sign}")
        if solution.bit is not None:
            click.echo(f"bit {query.bit}: {solution.bit}")
    click.echo(f"answer: {'YES' if solution.answer else 'NO'}")
    if instance.source.relation:
        click.echo(f"relation: {instance.source.relation}")
