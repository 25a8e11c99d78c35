"""`bitprop demo` (and, as they land, the growth and Figure 1 harnesses)."""

import click

from ..experiments.demo import demo_rows
from .common import emit_json, json_option


@click.command("demo")
@click.option("--width", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--samples", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True)
@json_option
def demo_command(width, samples, seed, as_json):
    """Exact forward + backward of random MLPs at growing depth: ReLU stays polynomial,
    z^2 explodes exponentially (Theorem 1.3 vs Theorem E.1 of 'Why ReLU?')."""
    rows = demo_rows(width, samples, seed)
    if as_json:
        emit_json({"rows": rows})
        return
    click.echo(f"Exact gradients of random width-{width} MLPs, {samples} samples, square loss "
               f"(seed {seed}); bits = bitlen(|p|) + bitlen(q)\n")
    header = f"{'activation':<16}{'depth':>6}{'value bits':>12}{'grad bits':>12}{'seconds':>10}"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(f"{row['activation']:<16}{row['depth']:>6}{row['max_value_bits']:>12,}"
                   f"{row['max_grad_bits']:>12,}{row['total_s']:>10.3f}")
    click.echo("\nReLU and rounded activations grow polynomially with depth; z^2 doubles "
               "bit lengths every layer.")


def register(group):
    group.add_command(demo_command)
