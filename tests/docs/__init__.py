"""Every command line of the READMEs, run in order against a loopback registry."""
