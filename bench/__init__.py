"""``make bench``: throughput, latency and memory of the claim pipeline against a plain baseline.

Every run owns what it measures: fresh databases named ``plan_bench_*`` (dropped afterwards),
Redis database indexes of its own (flushed before and after), and the processes it starts
(stopped whatever happens). See ``python -m bench --help``.
"""
