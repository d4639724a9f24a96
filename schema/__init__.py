"""The GraphQL surface: per-domain types, queries and mutations (schema.users, schema.deals…), the compiled
read path (schema.compiled), and their assembly into one Schema (schema.root.build_schema), which the app
builds where it is composed (pipecast.app) — importing a module here builds nothing."""
