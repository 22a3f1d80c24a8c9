"""Everything a client sees: MCP, HTTP endpoints, metrics, the CLI and the composition root."""
