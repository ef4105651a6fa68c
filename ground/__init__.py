"""The ground floor: what every domain package stands on, and which imports none of them.

- `ground.errors`: the exception tree.
- `ground.auth`: API keys, their scopes and tenants, and the check of a request's key.
- `ground.storage`: the one package that talks to ClickHouse (embedded chDB or a server),
  the table names, the schema and its migrations.
"""
