"""The labs' importable logic: session, checks, views and the shared template."""
