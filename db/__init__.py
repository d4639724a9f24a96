"""PostgreSQL: tables, queries, migrations, seed data and the embedded server."""
