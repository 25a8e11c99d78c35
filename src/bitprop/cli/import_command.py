"""`bitprop import MODEL.onnx -o NET.json`: an ONNX model as a bitprop.network/1 file."""

import click

from ..network import Network
from .common import emit_json, json_option, reporter


@click.command("import")
@click.argument("model", metavar="MODEL")
@click.option("-o", "--output", required=True, metavar="NET",
              help="Where to write the network (bitprop.network/1).")
@json_option
def import_command(model, output, as_json):
    """Read an ONNX model exactly (float weights as their binary values) and write NET."""
    echo = reporter(output, as_json)
    net = Network.from_onnx(model)
    net.save(output)
    summary = {"vertices": net.num_vertices, "edges": net.num_edges, "inputs": net.num_inputs,
               "outputs": net.num_outputs, "parameters": len(net.parameters),
               "depth": net.depth, "output": output}
    if as_json:
        emit_json(summary)
        return
    echo(f"{net.num_vertices} vertices, {net.num_edges} edges, {len(net.parameters)} shared "
         f"parameters, depth {net.depth}; wrote {output}")


def register(group):
    group.add_command(import_command)
