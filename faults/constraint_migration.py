"""records-dead-lettered: a release's data migration adds a CHECK constraint to
inference_records that the running service's records violate (the release renames a task's
value before the service that writes it is updated). PostgreSQL refuses those records as data:
the service parks them in its outbox, the drain dead-letters each one into
inference_dead_letters and counts it, and the records stay missing from inference_records
until someone rolls the migration back and replays them.

Shipped like `schema_migration`: $DEPLOY_DIR/migrations/NAME.up.sql and .down.sql, applied with
psql inside the postgres container. Revert drops the constraint if it is still there and
replays any readable dead letter the runbook did not (idempotent: keyed by request id).
"""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import ensure_running, psql, psql_value, remove_migration, ship_migration
from fixtures.stack import Stack

TABLE = "inference_records"
REPLAY = (
    "INSERT INTO inference_records (request_id, task, status, latency_ms, image_sha256, "
    "created_at) SELECT (payload::jsonb->>'request_id')::uuid, payload::jsonb->>'task', "
    "payload::jsonb->>'status', (payload::jsonb->>'latency_ms')::double precision, "
    "payload::jsonb->>'image_sha256', (payload::jsonb->>'created_at')::timestamptz FROM "
    "inference_dead_letters WHERE id NOT LIKE 'sha256:%' ON CONFLICT (request_id) DO NOTHING; "
    "DELETE FROM inference_dead_letters d USING inference_records r "
    "WHERE d.id = r.request_id::text;")


@dataclass
class ConstraintMigration:
    constraint: str = "task_known"
    check: str = "task IN ('caption', 'ocr', 'vqa')"
    name: str = "0008_task_values"
    description: str = ("A data migration added a CHECK constraint on inference_records that "
                        "the running service's records violate; PostgreSQL refuses them as "
                        "data and they are dead-lettered.")

    def _down(self) -> str:
        return f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {self.constraint};\n"

    def _present(self, stack: Stack) -> bool:
        return psql_value(stack, "SELECT count(*) FROM pg_constraint "
                                 f"WHERE conname = '{self.constraint}'") != "0"

    def inject(self, stack: Stack) -> str:
        # NOT VALID: the rows already there are not checked, only every new one.
        up = (f"ALTER TABLE {TABLE} ADD CONSTRAINT {self.constraint} CHECK ({self.check}) "
              "NOT VALID;\n")
        return ship_migration(stack, self.name, up, self._down())

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, "postgres")
        if self._present(stack):
            psql(stack, self._down())
        psql(stack, REPLAY)
        remove_migration(stack, self.name)

    def residue(self, stack: Stack) -> list[str]:
        return [f"constraint {self.constraint} is still on {TABLE}"] if self._present(
            stack) else []
