"""``python -m bitprop``: the command line."""

from .cli import main

main()
