"""outbox-stuck: a release's schema migration renames a column the running service still
writes. PostgreSQL stays up and answers, but refuses every INSERT of an inference record: the
service keeps answering and parks each record in its outbox, which no longer drains.

The migration ships as a release would ship it, in the deployment directory
($DEPLOY_DIR/migrations/, which the operator toolbox sees at the same path), with its
`.down.sql`; it is applied with psql inside the postgres container. Revert applies the down
script if the rename is still in place (idempotent) and removes the release's files.
"""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import ensure_running, psql, psql_value, remove_migration, ship_migration
from fixtures.stack import Stack

TABLE = "inference_records"


@dataclass
class SchemaMigration:
    column: str = "image_sha256"
    renamed_to: str = "image_digest"
    name: str = "0007_rename_image_digest"
    description: str = ("A schema migration renamed a column of inference_records that the "
                        "running service still writes; PostgreSQL refuses its records.")

    def _sql(self, old: str, new: str) -> str:
        return f"ALTER TABLE {TABLE} RENAME COLUMN {old} TO {new};\n"

    def _columns(self, stack: Stack) -> set[str]:
        return set(psql_value(stack, "SELECT column_name FROM information_schema.columns "
                                     f"WHERE table_name = '{TABLE}'").split())

    def inject(self, stack: Stack) -> str:
        return ship_migration(stack, self.name, self._sql(self.column, self.renamed_to),
                              self._sql(self.renamed_to, self.column))

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, "postgres")
        columns = self._columns(stack)
        if self.renamed_to in columns and self.column not in columns:
            psql(stack, self._sql(self.renamed_to, self.column))
        remove_migration(stack, self.name)

    def residue(self, stack: Stack) -> list[str]:
        columns = self._columns(stack)
        return [] if self.column in columns else [
            f"{TABLE}.{self.column} is missing (columns: {sorted(columns)})"]
