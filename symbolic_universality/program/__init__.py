"""Algorithms as programs: IR, tracer, scheduler, reference interpreter."""
