"""What each kind of process loads: a worker never imports the web app, and the actors a test
module declares reach only the brokers that name that module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


# --- OpenMP runtimes (workers.engines.openmp) ---------------------------------------------------

OPENMP_ORDER = """
import sys
if sys.argv[1] == "engines first":
    from workers.engines.openmp import load_engine_libraries
    load_engine_libraries()
import torch, ctranslate2, llama_cpp
"""


def gomp_bindings(order: str) -> dict[str, str]:
    """Which OpenMP library each engine library's ``GOMP_parallel`` is bound to (glibc's
    ``LD_DEBUG`` report), by the binding library's file name."""
    done = subprocess.run(
        [sys.executable, "-c", OPENMP_ORDER, order],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LD_DEBUG": "bindings"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    bound: dict[str, str] = {}
    for line in done.stderr.splitlines():
        if "normal symbol `GOMP_parallel'" not in line or "binding file " not in line:
            continue
        source, _, target = line.split("binding file ", 1)[1].partition(" to ")
        bound[Path(source.split(" [")[0]).name] = target.split(" [")[0]
    return bound


def test_engines_loaded_before_torch_keep_their_own_openmp_runtimes() -> None:
    bound = gomp_bindings("engines first")
    ctranslate2 = next(target for name, target in bound.items() if name.startswith("libctranslate2"))
    ggml = bound["libggml-cpu.so.0"]
    assert "ctranslate2.libs" in ctranslate2
    assert "/torch/" not in ggml and ggml != ctranslate2


def test_torch_loaded_first_takes_over_the_engines_openmp() -> None:
    """What ``load_engine_libraries`` prevents: torch's copy in the global scope serves all."""
    bound = gomp_bindings("torch first")
    ctranslate2 = next(target for name, target in bound.items() if name.startswith("libctranslate2"))
    assert "/torch/" in ctranslate2 and "/torch/" in bound["libggml-cpu.so.0"]
