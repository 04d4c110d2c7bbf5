"""What each kind of process loads: a worker never imports the web app, and the actors a test
module declares reach only the brokers that name that module."""

from __future__ import annotations

import subprocess
import sys

import dramatiq
from dramatiq.brokers.stub import StubBroker

from domain.kinds import KINDS
from tests.conftest import REPO_ROOT
from workers.actors import builtin_actor_modules, declare_actors

# What ``sauti worker`` imports (app/cli/main.py: cmd_worker), and every built-in actor module.
WORKER_IMPORTS = """
import sys
import app.cli.main, app.bootstrap, migrations.api
import workers.engines.registry, workers.model_jobs, workers.process, workers.runtime
from workers.actors import builtin_actor_modules, declared_in
declared_in(builtin_actor_modules())
web = sorted(m for m in sys.modules if m.split(".")[0] in ("quart", "hypercorn", "quart_schema")
             or m.startswith(("app.http", "app.routes")))
print(" ".join(web))
"""


def test_a_worker_process_never_imports_the_web_app() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_test_actors_are_declared_only_where_their_module_is_named() -> None:
    import tests.integration.test_job_actors  # noqa: F401  (declares the test_* actors)

    builtin = StubBroker()
    names = {actor.actor_name for actor in declare_actors(builtin, builtin_actor_modules())}
    assert {kind.actor for kind in KINDS} <= names
    assert {"model_download", "summarize_record"} <= names
    assert not [name for name in names if name.startswith("test_")]

    with_tests = StubBroker()
    declared = declare_actors(with_tests, ["tests.integration.test_job_actors"])
    assert {actor.actor_name for actor in declared} == {
        "test_flaky",
        "test_bad_input",
        "test_always_fails",
        "test_steps",
    }
    assert all(isinstance(actor, dramatiq.Actor) for actor in declared)
