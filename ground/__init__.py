"""The ground floor: what every domain package stands on, and which imports none of them.

- `ground.errors`: the exception tree.
- `ground.tables`: the table names, a contract Grafana panels and users' SQL read.
- `ground.auth`: API keys, their scopes and tenants, and the check of a request's key.
- `ground.storage`: the one package that talks to ClickHouse (embedded chDB or a server),
  the schema and its migrations.
- `ground.spec`: what every config section's validation shares (field paths, problems, named lists).
"""
