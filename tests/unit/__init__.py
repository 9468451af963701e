"""No network: pure functions, parsers, policy evaluation, crypto, CLI wiring."""
