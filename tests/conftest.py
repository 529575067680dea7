"""Shared fixtures: one real Kafka broker for the whole session (started if none is up), and the rules that let
``make test`` run on several pytest-xdist workers at once.

In parallel (``-n N --dist loadscope``, with :func:`scope` as the scope) the workers share one broker: every test and lesson makes its own topics
and groups (unique names), and a test that stops, kills or reconfigures a broker does it to one of its own (its own
``KAFKABP_HOME``). The controller starts the shared broker before the workers and stops it after them; a worker
never stops it. Three things must not be split between workers, so they go to one worker each, in order:

- a lesson's cells (one kernel runs them top to bottom): the group is the notebook's name;
- everything that uses the local three-node cluster (tests/test_cluster.py, the ``three_nodes`` fixture, lesson 15):
  they share one cluster under the same ``KAFKABP_HOME``, and each stops it when done.

The scopes go out longest first, by the seconds each took in the run that wrote tests/durations.json (refresh it
with ``python tests/junit_total.py --durations tests/durations.json build/test-artifacts/junit/*.xml`` after a
``make test`` when lessons or tests change a lot): the run then ends about when the last long scope does.

Each lesson's outputs are written to ``$KAFKABP_TEST_ARTIFACTS/executed/`` as its cells run, so tests/test_site.py
(``after_notebooks``, a second pytest run in ``make test``) renders the site from them, on whichever worker they ran.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

import kafkabp
from kafkabp.dev import UNIT

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_GROUP = "cluster"
BROKERS = {"kafka_bootstrap", "three_nodes", "sasl_broker"}  # fixtures that start or need a real broker


def artifacts() -> Path:
    return Path(os.environ.get("KAFKABP_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _parallel(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not _worker(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The controller of a parallel run starts (or finds) the shared broker before any worker needs it; not for the
    unit tests (``-m`` kafkabp.dev.UNIT), which need none (it cost ``make test`` a broker start and stop)."""
    config = session.config
    if _parallel(config) and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and config.option.markexpr != UNIT:
        info = kafkabp.ensure_broker_info()
        config.stash[_STARTED] = info.started


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if config.stash.get(_STARTED, False) and not os.environ.get("KAFKABP_KEEP_BROKER"):
        kafkabp.stop_broker()


_STARTED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Bootstrap address of a real broker; one this session started is stopped after it (in a parallel run, by the
    controller, after every worker is done)."""
    info = kafkabp.ensure_broker_info()
    yield info.bootstrap
    if info.started and not _worker(request.config) and not os.environ.get("KAFKABP_KEEP_BROKER"):
        kafkabp.stop_all()
        kafkabp.stop_broker()


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients built here (over stand-in consumers) take their settings from the current target: an address nothing
    is asked at, so that no broker is started for them."""
    from kafkabp.infra.target import TARGET, BrokerInfo

    monkeypatch.setattr(TARGET, "info", BrokerInfo("127.0.0.1:9", "external"))


@pytest.fixture(scope="module")
def three_nodes(kafka_bootstrap: str) -> Iterator[str]:
    """A local cluster of three brokers for one test module (lesson 15's); the process goes back to the single
    broker after it, and the cluster stops (it holds about 1 GB)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("the local cluster runs beside kafkabp's own broker, not an external one")
    try:
        yield kafkabp.ensure_cluster(3)
    finally:
        kafkabp.ensure_broker()  # the tests after this module use the single broker
        assert kafkabp.client_config()["bootstrap.servers"] == kafka_bootstrap
        kafkabp.stop_cluster()


def _notebook(item: pytest.Item) -> Path | None:
    """The notebook an nbval cell belongs to (None for a plain test)."""
    if hasattr(item, "test_outputs") and item.parent is not None:
        return Path(str(item.parent.path))
    return None


CLUSTER_FILES = ("notebooks/15_", "tests/test_cluster.py", "tests/test_solutions_15.py")


def scope(nodeid: str) -> str:
    """Which tests one worker runs together, in order: a lesson's cells (its notebook), everything that uses the
    local three-node cluster, and each test file (its module fixtures are set up once)."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(CLUSTER_FILES):
        return CLUSTER_GROUP
    return path


# Scopes that start JVMs of their own (a broker per cycle, the three-node cluster, a killed and restarted broker, SASL,
# the offline laptop, the first start-up) or several kernels at once (headless): two of them at a time keep 2 cores
# busy; four at once (4 workers, all handed out first as the longest scopes) drove the load average to 31.
HEAVY = {"tests/test_fresh_broker.py", CLUSTER_GROUP, "tests/test_reliability.py", "tests/test_headless.py",
         "tests/test_security.py", "tests/test_offline.py", "tests/test_startup.py", "tests/test_broker.py"}
MAX_HEAVY = 2


def next_scope(waiting: list[str], running: set[str]) -> str:
    """The scope a free worker takes: the first waiting one (longest first), passing over a heavy scope while
    ``MAX_HEAVY`` heavy ones run; if only heavy scopes wait, the first of them (a worker is never left idle)."""
    if len(running & HEAVY) >= MAX_HEAVY:
        return next((s for s in waiting if s not in HEAVY), waiting[0])
    return waiting[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's loadscope with :func:`scope` as the scope and :func:`next_scope` choosing what a free worker
    takes. Not ``xdist_group`` marks with ``--dist loadgroup``: pytest-xdist 3.8 writes the group into
    ``item._nodeid``, which pytest 9.2's ``nodeid`` no longer reads, so every cell of a lesson would become its own
    scope and land on any worker."""
    from xdist.scheduler import LoadScopeScheduling

    class LessonScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            running = {s for work in self.assigned_work.values() for s, unit in work.items()
                       if not all(unit.values())}
            self.workqueue.move_to_end(next_scope(list(self.workqueue), running), last=False)
            super()._assign_work_unit(node)

    config.option.loadscopereorder = False  # keep the longest-first order of pytest_collection_modifyitems
    return LessonScheduling(config, log)


DURATIONS = ROOT / "tests" / "durations.json"


def expected_seconds(scopes: list[str]) -> dict[str, float]:
    """How long each scope took in the run that wrote tests/durations.json (tests/junit_total.py --durations). A
    lesson not in it yet counts as the longest lesson (a new lesson is rarely short, and a long one handed out last
    would make the whole run wait for it); any other new scope as 0 s."""
    known: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    lesson = max((v for k, v in known.items() if k.startswith("notebooks/")), default=60.0)
    return {s: known.get(s, lesson if s.startswith("notebooks/") else 0.0) for s in scopes}


def longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items grouped by scope, the longest scopes first (longest-processing-time-first: on N workers the run ends
    about when the last long scope does, not one long scope after everything else). Within a scope the order stays."""
    order: dict[str, int] = {}
    for item in items:
        order.setdefault(scope(item.nodeid), len(order))
    seconds = expected_seconds(list(order))
    return sorted(items, key=lambda item: (-seconds[scope(item.nodeid)], order[scope(item.nodeid)]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A lesson's cells are marked ``lesson`` and a test that
    needs the broker ``integration`` (so ``-m "not integration"`` is the quick unit run); tests marked
    ``after_notebooks`` run last."""
    for item in items:
        if _notebook(item) is not None:
            item.add_marker(pytest.mark.lesson)
        elif BROKERS & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)  # it needs a broker, marked or not
    if _parallel(config) or _worker(config):
        items[:] = longest_first(items)
    last = [item for item in items if item.get_closest_marker("after_notebooks")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("after_notebooks")] + last


class LessonOutputs:
    """After each lesson cell, the lesson so far (its cells' outputs) goes to ``executed/NN_name.ipynb``.

    A plugin object, not a hook of this conftest: pytest calls a conftest's per-item hooks only for the items below
    its folder, and the lessons are in notebooks/."""

    def __init__(self) -> None:
        self.executed: dict[Path, Any] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        yield
        nb_path = _notebook(item)
        outputs = getattr(item, "test_outputs", None)
        nb = getattr(item.parent, "nb", None)
        if nb_path is None or outputs is None or nb is None:
            return
        import nbformat

        executed = self.executed.setdefault(nb_path, copy.deepcopy(nb))
        index = next(i for i, cell in enumerate(nb.cells) if cell is getattr(item, "cell", None))
        executed.cells[index].outputs = outputs
        folder = artifacts() / "executed"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{nb_path.name}.tmp"
        nbformat.write(executed, tmp)
        tmp.replace(folder / nb_path.name)


class LeftoverThreads:
    """After each test, kafkabp's threads that it started and that are still alive are written, with the test's id,
    to ``$KAFKABP_TEST_ARTIFACTS/leftover-threads.txt``: a record for whoever hunts a slow exit, not a check (the
    leak tests assert on their own runs; a thread still closing on a loaded machine would fail the next test)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        import threading

        before = {t.ident for t in threading.enumerate()}
        yield
        left = [t.name for t in threading.enumerate()
                if t.ident not in before and t.is_alive() and t.name.startswith("kafkabp-")]
        if left:
            artifacts().mkdir(parents=True, exist_ok=True)
            with open(artifacts() / "leftover-threads.txt", "a") as f:
                f.write(f"{item.nodeid}: {', '.join(sorted(left))}\n")


def _refuse_brokers_in_unit_tests(config: pytest.Config) -> None:
    """The unit tests start no broker: one that tries (it built an Experiment, say) fails, naming the fix, instead of
    starting a JVM in the learner's default ``KAFKABP_HOME`` behind the run's back."""
    if config.option.markexpr == UNIT:
        from kafkabp.infra import broker

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("a unit test tried to start a Kafka broker: mark it integration (pytestmark = "
                               "pytest.mark.integration) or keep it off the broker (kafkabp.dev.UNIT runs without one)")

        broker.start_local = refuse  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    _refuse_brokers_in_unit_tests(config)
    if _worker(config):
        # The brokers a worker's tests start (their own KAFKABP_HOME, the three-node cluster) live seconds to a
        # minute: without C2 they spend about half the CPU (9.9 against 17.0 core-s over a broker's first minute of
        # traffic; 2.1 against 3.1 to start), ~94 core-s less over make test. The shared broker, started by the
        # controller, keeps C2: over a whole run C1 cost it 265 against 219 core-s (a learner's broker lives long).
        os.environ.setdefault("KAFKABP_BROKER_JVM_OPTS", "-XX:TieredStopAtLevel=1")
    config.pluginmanager.register(LessonOutputs(), "kafkabp-lesson-outputs")
    config.pluginmanager.register(LeftoverThreads(), "kafkabp-leftover-threads")
