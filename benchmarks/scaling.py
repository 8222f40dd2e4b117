"""Scaling benchmark: one DiffPool layer, forward + backward, on synthetic graphs of growing n.

Thin wrapper over :mod:`diffpool.bench` (same as ``diffpool bench scaling``); ``--help`` lists options.
"""
import argparse
import sys

from diffpool.bench.cli import add_scaling_arguments, run_scaling

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scaling_arguments(parser)
    sys.exit(run_scaling(parser.parse_args()))
