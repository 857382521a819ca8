"""`make bench` collects the CRM look-up benchmark from here (the script is bench/crm_bench.py)."""

from bench.crm_bench import test_crm_lookup_benchmark

__all__ = ["test_crm_lookup_benchmark"]
