"""Helpers of the tests and the benchmarks (not shipped in the package): real processes started and stopped,
and a Dash client that speaks HTTP like the browser's renderer."""
