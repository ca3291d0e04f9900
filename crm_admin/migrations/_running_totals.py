"""The SQL of a running total kept by statement-level triggers (PostgreSQL), for the
migrations that create them (0009, 0010). The loader skips this module (its name starts with
an underscore); applied migrations build their SQL with it, so change it only compatibly.

A spec names the summarised `table`, its `keys` (column: type; "NOT NULL" keys compare
plainly, nullable ones through 'infinity'), the SQL `key_values` computing each key from a
row, the `measures` summed (column: SQL over a row) and optionally `where`, the rows that
count (others change nothing).
"""


def summary_sql(name: str, spec: dict) -> list[str]:
    """The statements creating table `name`, filling it from `spec`'s table and creating the
    triggers that keep it (see migration 0009 for how a statement folds its change in)."""
    keys = list(spec["keys"])
    measures = list(spec["measures"])
    key_list, measure_list = ", ".join(keys), ", ".join(measures)
    sums = ", ".join(f"sum({m})" for m in measures)
    nonzero = " OR ".join(f"sum({m}) <> 0" for m in measures)
    same_key = " AND ".join(
        f"coalesce(t.{k}, 'infinity') = coalesce(d.{k}, 'infinity')"
        if "NOT NULL" not in spec["keys"][k]
        else f"t.{k} = d.{k}"
        for k in keys
    )

    def rows(transition: str, sign: str) -> str:
        values = [f"{expr} AS {k}" for k, expr in spec["key_values"].items()]
        values += [f"{sign}{expr} AS {m}" for m, expr in spec["measures"].items()]
        where = f" WHERE {spec['where']}" if "where" in spec else ""
        return f"SELECT {', '.join(values)} FROM {transition}{where}"

    changes = {
        "insert": rows("new_rows", ""),
        "delete": rows("old_rows", "-"),
        "update": f"{rows('new_rows', '')} UNION ALL {rows('old_rows', '-')}",
    }
    columns = ", ".join(f"{k} {t}" for k, t in spec["keys"].items())
    columns += ", " + ", ".join(f"{m} numeric NOT NULL" for m in measures)
    statements = [
        f"CREATE TABLE {name} (id bigserial PRIMARY KEY, {columns})",
        f"CREATE INDEX {name}_key_idx ON {name} ({key_list})",
        f"INSERT INTO {name} ({key_list}, {measure_list}) "
        f"SELECT {key_list}, {sums} FROM ({rows(spec['table'], '')}) AS change "
        f"GROUP BY {key_list}",
    ]
    for operation, change in changes.items():
        statements.append(
            f"""CREATE FUNCTION {name}_after_{operation}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                WITH change AS ({change}),
                picked AS (
                    SELECT t.id FROM {name} t
                    WHERE EXISTS (SELECT FROM change d WHERE {same_key})
                    FOR UPDATE SKIP LOCKED
                ),
                folded AS (
                    DELETE FROM {name} t USING picked WHERE t.id = picked.id
                    RETURNING {key_list}, {measure_list}
                )
                INSERT INTO {name} ({key_list}, {measure_list})
                SELECT {key_list}, {sums}
                FROM (SELECT * FROM folded UNION ALL SELECT * FROM change) AS total
                GROUP BY {key_list} HAVING {nonzero};
                RETURN NULL;
            END $$"""
        )
        transitions = {
            "insert": "NEW TABLE AS new_rows",
            "delete": "OLD TABLE AS old_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[operation]
        statements.append(
            f"CREATE TRIGGER {name}_after_{operation} AFTER {operation.upper()} "
            f"ON {spec['table']} REFERENCING {transitions} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_after_{operation}()"
        )
    statements += [
        # DELETE, not TRUNCATE: the latter would lock out readers until the transaction ends.
        f"""CREATE FUNCTION {name}_after_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {name}; RETURN NULL; END $$""",
        f"CREATE TRIGGER {name}_after_truncate AFTER TRUNCATE ON {spec['table']} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_after_truncate()",
    ]
    return statements


def drop_summary_sql(name: str, spec: dict) -> list[str]:
    """The statements undoing summary_sql(name, spec)."""
    operations = ("insert", "update", "delete", "truncate")
    return [
        *(f"DROP TRIGGER IF EXISTS {name}_after_{op} ON {spec['table']}" for op in operations),
        *(f"DROP FUNCTION IF EXISTS {name}_after_{op}()" for op in operations),
        f"DROP TABLE IF EXISTS {name}",
    ]
