"""Benchmarks and fault injection for the complaint platform: `make bench` and `make chaos`.

Both start their own embedded stack (PostgreSQL, the Tansu broker, the four services as
subprocesses) in a temporary directory, so a run never touches a developer's `make run` stack.
"""
