"""The project's PostgreSQL backend: Django's, with a health check that needs no round trip."""
