"""Jobs: a persistent queue from a request to a verified medium."""
