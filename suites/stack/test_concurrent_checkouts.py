"""Two checkouts on one engine at the same time, differing in one image: each run starts its own
build (never the other's, never a :latest the other moved), neither sweeps the other, and both
leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from fixtures import engine, labels, sweep

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
CHANGED = Path("target/images/webhook/receiver.py")  # the one file checkout B changes
REFS = ("import json; from fixtures import images; "
        "print(json.dumps(images.build_all(log=lambda line: None)))")
# In each checkout: its stack's containers run its own content-hash tags (a smoke test).
CHECK = ["-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", "-q",
         "suites/stack/test_smoke.py", "-k", "this_checkouts_build"]


def checkout(dest: Path, change: str | None = None) -> Path:
    """A clone of this checkout's commit, sharing its wheelhouse (a download, not a build)."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    (dest / ".cache").symlink_to(ROOT / ".cache")
    if change:
        with (dest / CHANGED).open("a") as source:
            source.write(change)
    return dest


def built_refs(repo: Path) -> dict[str, str]:
    result = subprocess.run([sys.executable, "-c", REFS], cwd=repo, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def running_images(client: docker.DockerClient, run: str) -> dict[str, str]:
    """Compose service -> the image reference its container was created from, for one run."""
    # The low-level listing: one call, no inspect of a container that may be gone by then.
    containers = client.api.containers(filters={"label": f"{labels.RUN_LABEL}={run}"})
    return {c["Labels"].get("com.docker.compose.service", c["Id"]): c["Image"]
            for c in containers}


def test_two_checkouts_at_once_each_run_their_own_build(tmp_path: Path) -> None:
    a = checkout(tmp_path / "a")
    b = checkout(tmp_path / "b", change="\n# checkout b: one changed line\n")
    refs_a, refs_b = built_refs(a), built_refs(b)
    differ = {name for name in refs_a if refs_a[name] != refs_b[name]}
    assert differ == {"webhook"}, (refs_a, refs_b)

    client = engine.client()
    runs = {repo: labels.new_run_id() for repo in (a, b)}
    started = {repo: subprocess.Popen([sys.executable, *CHECK, "--run-id", run], cwd=repo,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for repo, run in runs.items()}
    # Watched from outside: which image each run's webhook receiver was created from, and
    # whether both stacks were up at the same moment.
    webhook: dict[Path, str] = {}
    together = False
    try:
        while any(process.poll() is None for process in started.values()):
            live = {repo: running_images(client, run) for repo, run in runs.items()}
            together = together or all(live.values())
            for repo, images in live.items():
                webhook[repo] = webhook.get(repo) or images.get("webhook-receiver", "")
            time.sleep(0.5)  # a poll interval: the runs end by themselves
    finally:
        outputs = {repo: process.communicate(timeout=600)[0].decode(errors="replace")
                   for repo, process in started.items()}
    for repo, process in started.items():
        assert process.returncode == 0, f"{repo.name}:\n{outputs[repo][-3000:]}"
        assert "1 passed" in outputs[repo], outputs[repo][-1000:]
    assert together, "the two runs never had their stacks up at the same time"
    assert webhook == {a: refs_a["webhook"], b: refs_b["webhook"]}
    for run in runs.values():
        assert sweep.leftovers(client, run) == []
    # The build each ran is still there under its own tag, whatever :latest points at now.
    ids = {ref: client.images.get(ref).id for ref in (refs_a["webhook"], refs_b["webhook"])}
    assert len(set(ids.values())) == 2, ids
