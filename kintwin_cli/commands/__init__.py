"""One module per sub-command: parse, validate, call library code, report."""
