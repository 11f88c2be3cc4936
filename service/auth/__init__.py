"""Identity and access: API keys, people and sessions, route guards and attribute masking."""
