"""Simulated customers, texts and campaign results with a planted truth, and the tables they are written to: the
demo's data and the benchmarks' yardstick. Outside the runtime layers (data ... io never import it); only
workflows and cli do."""
