"""Development tools: the seed, the demo, and the process helpers tests, bench and demo share."""
