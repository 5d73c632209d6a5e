"""Load test: many simulated users, each asking its own spoken questions, on one machine.

`corpus` picks the spoken questions and deals each client its own; `client` streams them in real
time with random start offsets and think times and measures voice-to-voice latency; `run` runs
one load level and samples CPU and memory; `ramp` adds clients until the p95 passes a bound and
so finds the capacity; `report` turns the figures into JSON and tables.
"""
