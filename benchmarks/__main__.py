"""Run every benchmark module and print its figures."""

from __future__ import annotations


def main() -> None:
    print("no benchmarks registered yet")


if __name__ == "__main__":
    main()
