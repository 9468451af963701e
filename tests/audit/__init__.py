"""slsacheck audit: sources, verdicts, every report format, fleet inventories, shards and their merge."""
