"""SafeSteer benchmarks: `make bench` (or `python bench/run_all.py`)."""
