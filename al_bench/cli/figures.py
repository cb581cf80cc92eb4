"""Console script stub until its issue lands."""

import sys


def main() -> None:
    sys.exit("al-bench-figures: not implemented yet")
