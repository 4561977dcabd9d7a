"""SMS backends: where messages go (the provider, the console, a list, nowhere)."""
