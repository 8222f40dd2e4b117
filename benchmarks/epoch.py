"""Epoch benchmark: training epoch + inference per implementation and data set, as JSON lines.

Thin wrapper over :mod:`diffpool.bench` (same as ``diffpool bench epoch``); ``--help`` lists options.
"""
import argparse
import sys

from diffpool.bench.cli import add_epoch_arguments, run_epoch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_epoch_arguments(parser)
    sys.exit(run_epoch(parser.parse_args()))
