"""Informers: list/watch the API server and turn objects into store rows."""
