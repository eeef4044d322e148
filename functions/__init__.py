"""Triggers: one blueprint module per feature; each parses input, calls one service function, maps the result."""
