"""The web UI: server-rendered pages for the people who work with decisions."""
