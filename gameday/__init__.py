"""The game-day engine: the scenario catalog, the lifecycle that runs it, the journal it writes.

Layers import one way: fixtures (the stack) -> faults -> gameday (this engine) -> reporting.
"""
