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

from faults.base import InjectionFailed, ensure_running
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

    def _psql(self, stack: Stack, sql: str) -> tuple[int, str]:
        result = stack.container("postgres").exec_run(
            ["psql", "-U", "mmllm", "-d", "mmllm", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        return result.exit_code, result.output.decode(errors="replace").strip()

    def _columns(self, stack: Stack) -> set[str]:
        code, out = self._psql(stack, "SELECT column_name FROM information_schema.columns "
                                      f"WHERE table_name = '{TABLE}'")
        if code:
            raise InjectionFailed(f"psql: {out}")
        return set(out.split())

    def inject(self, stack: Stack) -> str:
        migrations = stack.deploy_dir / "migrations"
        migrations.mkdir(exist_ok=True)
        up = self._sql(self.column, self.renamed_to)
        (migrations / f"{self.name}.up.sql").write_text(up)
        (migrations / f"{self.name}.down.sql").write_text(self._sql(self.renamed_to, self.column))
        code, out = self._psql(stack, up)
        if code:
            raise InjectionFailed(f"applying {self.name}.up.sql: {out}")
        return f"applied migrations/{self.name}.up.sql: {up.strip()} ({out})"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, "postgres")
        columns = self._columns(stack)
        if self.renamed_to in columns and self.column not in columns:
            self._psql(stack, self._sql(self.renamed_to, self.column))
        for path in (stack.deploy_dir / "migrations").glob(f"{self.name}.*.sql"):
            path.unlink()

    def residue(self, stack: Stack) -> list[str]:
        columns = self._columns(stack)
        return [] if self.column in columns else [
            f"{TABLE}.{self.column} is missing (columns: {sorted(columns)})"]
