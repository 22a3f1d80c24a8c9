"""Tests of the MCP server, its HTTP app, configuration and CLI."""
