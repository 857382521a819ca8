"""`make bench` collects the wallboard benchmark from here (the script is bench/wallboard_bench.py)."""

from bench.wallboard_bench import test_wallboard_benchmark

__all__ = ["test_wallboard_benchmark"]
