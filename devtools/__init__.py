"""Developer tooling, not part of the running service: local servers for development, the demo and the tests."""
