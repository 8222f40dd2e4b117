"""Headroom benchmark: the fixed-k speed-up over PyG's model if level 1's pooling cost nothing, as a JSON line.

Thin wrapper over :mod:`diffpool.bench.headroom` (same as ``diffpool bench headroom``); ``--help`` lists options.
"""
import argparse
import sys

from diffpool.bench.headroom import add_headroom_arguments, run_headroom_command

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_headroom_arguments(parser)
    sys.exit(run_headroom_command(parser.parse_args()))
