"""Policy: the schema, the loader, CEL rules, and the compiled Policy the engine reads."""
