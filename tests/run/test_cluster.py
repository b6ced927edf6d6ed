"""The Ray engine: on a Ray runtime started here, the same comparison as in-process, whatever the chunks."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import (
    ConfigError,
    ExplainConfig,
    MLPConfig,
    RunConfig,
    SklearnConfig,
    compare,
    compare_on_ray,
    connect_ray,
    disconnect_ray,
    load_builtin,
)
from core.cli import main
from core.run.cluster import _blocks_chunk, _explain_chunk, _Shared, _train_chunk, same_libraries
from core.explainers.methods import blocks_on, explain_basis

ROOT = Path(__file__).resolve().parents[2]
RUN = RunConfig(n_models=6, mlp=MLPConfig(hidden=(8,), epochs=5))
EXPLAIN = ExplainConfig(methods=("kernel_shap", "lime", "integrated_gradients"), max_rows=10, kernel_samples=64,
                        lime_samples=2000)
UNREACHABLE = "ray://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture(scope="module")
def in_process(iris):
    return compare(iris, RUN, EXPLAIN)


@pytest.fixture(scope="module")
def local_ray():
    """A Ray runtime of 2 CPUs on this machine for this module's tests, stopped with all its processes after."""
    cluster = connect_ray(None, num_cpus=2)
    yield cluster
    disconnect_ray()


def assert_same(a, b):
    """Bit for bit: models, learning curves, predictions and every method's attributions and noise floor.

    Iris is multiclass, so the explained class of each row is the vote of all 6 models, which
    the driver takes once every chunk is trained.
    """
    assert a.run.fingerprints == b.run.fingerprints
    for curve in ("train_loss", "val_accuracy", "best_epoch"):
        np.testing.assert_array_equal(getattr(a.run.history, curve), getattr(b.run.history, curve))
    np.testing.assert_array_equal(a.evaluation.proba, b.evaluation.proba)
    np.testing.assert_array_equal(a.explanation.rows, b.explanation.rows)
    np.testing.assert_array_equal(a.explanation.target_class, b.explanation.target_class)
    assert list(a.explanation.by_method) == list(b.explanation.by_method)
    for name, attr in a.explanation.by_method.items():
        other = b.explanation.by_method[name]
        np.testing.assert_array_equal(attr.values, other.values, err_msg=name)
        assert (attr.halves is None) == (other.halves is None) and attr.samples == other.samples
        if attr.halves is not None:
            np.testing.assert_array_equal(attr.halves, other.halves, err_msg=name)


def test_an_unreachable_cluster_fails_at_once_with_what_to_do(iris, tmp_path, capsys):
    with pytest.raises(ConfigError, match="Cannot reach a Ray cluster at ray://127.0.0.1:1"):
        compare_on_ray(iris, RUN, EXPLAIN, address=UNREACHABLE)
    with pytest.raises(ConfigError, match="not a Ray cluster address"):
        connect_ray("http://head")
    code = main(["compare", "--dataset", "iris", "--engine", "ray", "--address", UNREACHABLE, "--quiet",
                 "--out", str(tmp_path / "report.html")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Cannot reach") and "ray start --head" in err
    assert err.count("\n") == 1 and not (tmp_path / "report.html").exists()


def test_the_default_engine_never_imports_ray():
    code = ("import sys; import core, core.cli; from core import *; "
            "compare(load_builtin('iris'), RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=1)), "
            "ExplainConfig(methods=('gradient',), max_rows=3)); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_chunks_on_a_local_ray_runtime_give_the_in_process_comparison(iris, local_ray, in_process):
    seen = []
    result = compare_on_ray(iris, RUN, EXPLAIN, chunk=2, progress=lambda f, message: seen.append((f, message)))
    assert_same(result, in_process)
    import ray
    assert result.libraries == {**in_process.libraries, "ray": ray.__version__}  # the record names the engine
    # Progress counts the models of finished tasks: training is the first 40% of the bar, as in-process.
    assert [message for _, message in seen] == ["Connecting to Ray"] + [
        f"Ray: {stage} {done}/6 models" for stage in ("trained", "explained") for done in (2, 4, 6)]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[3] == pytest.approx(0.4) and fractions[-1] == 1.0


def _explaining_worker() -> int | None:
    """The pid of a Ray worker of this test process running an explain task, if one runs now."""
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::_explain_chunk") and _parent(_parent(int(entry))) == os.getpid():
                    return int(entry)
        except (OSError, ValueError):
            continue
    return None


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_a_worker_killed_mid_task_is_rerun_and_changes_nothing(iris, local_ray, in_process):
    killed, finished = [], threading.Event()

    def kill_the_first_explaining_worker():
        while not finished.is_set() and not killed:
            pid = _explaining_worker()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_explaining_worker)
    killer.start()
    try:
        result = compare_on_ray(iris, RUN, EXPLAIN, chunk=2)
    finally:
        finished.set()
        killer.join()
    assert killed, "no explain task was caught running"
    assert_same(result, in_process)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_gone_mid_run_fails_with_what_to_do_and_the_run_starts_again(iris, local_ray, in_process):
    """A head of 2 CPUs, started by `ray start` in a process group of its own, is killed with all its
    processes once the first chunk is trained; the run says so, and the same run then starts again."""
    disconnect_ray()  # this module's runtime: the run joins the cluster, and the last step starts it again
    port, stopped = _free_port(), []
    start = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}",
             f"--ray-client-server-port={_free_port()}",
             f"--dashboard-agent-listen-port={_free_port()}", "--num-cpus=2", "--include-dashboard=false",
             "--disable-usage-stats", "--block"]
    # A short temp dir (Ray's socket paths are limited); no token, so that this process joins it whether it holds one.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp, subprocess.Popen(
            [*start, f"--temp-dir={temp}"], env={**os.environ, "RAY_AUTH_MODE": "disabled"}, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as head:

        def stop_the_cluster_once_a_chunk_is_trained(fraction, message):
            if message.startswith("Ray: trained") and not stopped:
                os.killpg(head.pid, signal.SIGKILL)
                stopped.append(time.monotonic())

        try:
            assert any("Ray runtime started" in line for line in head.stdout), "ray start failed"
            with pytest.raises(ConfigError) as failure:
                compare_on_ray(iris, RUN, EXPLAIN, address=f"127.0.0.1:{port}", chunk=2,
                               progress=stop_the_cluster_once_a_chunk_is_trained)
        finally:
            if not stopped:
                os.killpg(head.pid, signal.SIGKILL)
    message = str(failure.value)
    assert message.startswith(f"The Ray cluster at 127.0.0.1:{port} failed during the run (ConnectionError:")
    assert message.endswith("start the run again.") and "\n" not in message
    assert stopped and time.monotonic() - stopped[0] < 30  # not Ray's minute of retries, which ends the process
    # Started again, here on a runtime of this machine like local_ray's, which stops it after the module.
    assert_same(compare_on_ray(iris, RUN, EXPLAIN, chunk=2, num_cpus=2), in_process)


def test_setup_computes_on_a_ray_cluster_and_shows_its_workers(iris, local_ray):
    import ray
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="builtin").set_value("iris")
    at.run()
    at.slider(key="n_models").set_value(2)
    at.number_input(key="seed").set_value(7)  # a configuration no other test has cached
    at.slider(key="rows").set_value(5)
    at.number_input(key="kernel_samples").set_value(64)
    at.number_input(key="lime_samples").set_value(500)
    at.text_input(key="hidden").set_value("8")
    at.number_input(key="epochs").set_value(3)
    at.radio(key="compute").set_value("A Ray cluster")
    at.run()
    assert any(c.value.startswith("Estimated time: about") and "shared out among the cluster's workers" in c.value
               for c in at.caption)  # not this machine's speed
    at.text_input(key="ray_address").set_value(UNREACHABLE)
    at.button(key="ray_connect").click()
    at.run()
    assert any("Cannot reach" in e.value for e in at.error)
    at.button(key="train").click()  # the run goes to the cluster too, and fails the same way
    at.run()
    assert any("Cannot reach" in e.value for e in at.error) and "comparison" not in at.session_state
    assert at.radio(key="compute").value == "A Ray cluster" and at.slider(key="n_models").value == 2  # nothing lost
    at.text_input(key="ray_address").set_value(ray.get_runtime_context().gcs_address)
    at.button(key="ray_connect").click()
    at.run()
    assert not at.error
    assert any("1 machine, 2 CPUs" in s.value for s in at.success)
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    on_ray = at.session_state["comparison"]
    assert_same(on_ray, compare(iris, on_ray.run.config, on_ray.explanation.config))



def test_precision_raised_on_the_cluster_gives_the_in_process_comparison(local_ray):
    """LIME undecided at 100 samples (test_methods' INCONCLUSIVE): the driver asks the chunks for another
    run, and the comparison is the in-process one bit for bit."""
    dataset = load_builtin("breast_cancer")
    run_config = RunConfig(n_models=6, vary=frozenset({"split"}), seed=1, mlp=MLPConfig(hidden=(8,), epochs=5))
    config = ExplainConfig(methods=("kernel_shap", "lime"), max_rows=16, kernel_samples=64, lime_samples=100)
    on_ray = compare_on_ray(dataset, run_config, config, chunk=4)
    assert on_ray.explanation.by_method["lime"].samples == 200
    assert_same(on_ray, compare(dataset, run_config, config))


def test_every_chunking_gives_each_model_its_attributions_of_the_whole_run():
    """In-process, what the Ray tasks do: 5 binary models trained and explained in chunks of 1 (as two
    copies: torch computes a batch of one by other kernels), 2 or 3 get the fingerprints and
    attributions of compare(). KernelSHAP and LIME bit for bit; integrated gradients, in float64,
    to its last bits, its matmuls being shaped by the chunk's number of models and kinks."""
    dataset = load_builtin("breast_cancer")
    run_config = RunConfig(n_models=5, mlp=MLPConfig(hidden=(16,), epochs=3))
    config = replace(EXPLAIN, kernel_samples=128, lime_samples=500, max_rows=5, precision="fixed")
    whole = compare(dataset, run_config, config)
    more = blocks_on(whole.run, explain_basis(whole.run, whole.evaluation.rows, config), config, "kernel_shap", range(1, 3))
    shared = _Shared(dataset.X, dataset.y, dataset.n_classes, dataset.task, whole.run.train_rows, whole.run.val_rows,
                     whole.run.test_rows)
    basis = explain_basis(whole.run, whole.evaluation.rows, config)
    for size in (1, 2, 3):
        for start in range(0, 5, size):
            models = range(start, min(5, start + size))
            trained = _train_chunk(shared, run_config, models)
            assert trained.fingerprints == whole.run.fingerprints[start:models.stop]
            part = _explain_chunk(shared, run_config, config, trained, basis)
            for name, attributions in whole.explanation.by_method.items():
                values, halves = part[name].values, part[name].halves
                expected = attributions.values[start:models.stop]
                if name == "integrated_gradients":
                    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
                    continue
                np.testing.assert_array_equal(values, expected, err_msg=f"{name}, models {models}")
                np.testing.assert_array_equal(halves, attributions.halves[:, start:models.stop], err_msg=name)
                if attributions.normals is not None:  # what the driver pools when it draws more
                    np.testing.assert_array_equal(part[name].normals[0].rhs, attributions.normals[0].rhs[start:models.stop])
            # What refine asks a chunk for when it draws more: the whole run's blocks of its models.
            chunk = _blocks_chunk(shared, run_config, config, trained, basis, "kernel_shap", range(1, 3))
            np.testing.assert_array_equal(chunk.values, more.values[:, start:models.stop])
            for run_part, run_whole in zip(chunk.normals, more.normals):
                for part, whole_normal in zip(run_part, run_whole):
                    np.testing.assert_array_equal(part.rhs, whole_normal.rhs[start:models.stop])
                    np.testing.assert_array_equal(part.gram, whole_normal.gram)


def test_workers_with_other_library_versions_are_refused_by_name():
    here = {"python": "3.11.9", "torch": "2.13.0", "shap": "0.51.0"}
    assert same_libraries(here, [dict(here), dict(here)]) == here
    with pytest.raises(ConfigError, match=r"runs torch 2.12.0, this machine 2.13.0: install the same requirements"):
        same_libraries(here, [dict(here), {**here, "torch": "2.12.0"}])
    with pytest.raises(ConfigError, match=r"runs shap \(none\), this machine 0.51.0"):
        same_libraries(here, [{"python": "3.11.9", "torch": "2.13.0"}])


def test_a_regression_on_the_cluster_gives_the_in_process_comparison(local_ray):
    """Diabetes with a tolerance of its own: models, predictions in the target's units, KernelSHAP and the
    regression ambiguity are the in-process ones bit for bit; integrated gradients, in float64, to the last
    bits (as test_every_chunking_... says, its matmuls take the chunk's shape)."""
    dataset = load_builtin("diabetes")
    run_config = RunConfig(n_models=5, mlp=MLPConfig(hidden=(8,), epochs=5))
    config = ExplainConfig(methods=("kernel_shap", "integrated_gradients"), max_rows=8, kernel_samples=64)
    on_ray = compare_on_ray(dataset, run_config, config, chunk=2, delta=5.0)
    here = compare(dataset, run_config, config, delta=5.0)
    assert on_ray.run.fingerprints == here.run.fingerprints
    np.testing.assert_array_equal(on_ray.evaluation.predictions, here.evaluation.predictions)
    for name in ("values", "halves"):
        np.testing.assert_array_equal(getattr(on_ray.explanation.by_method["kernel_shap"], name),
                                      getattr(here.explanation.by_method["kernel_shap"], name))
    np.testing.assert_allclose(on_ray.explanation.by_method["integrated_gradients"].values,
                               here.explanation.by_method["integrated_gradients"].values, rtol=1e-12, atol=1e-12)
    assert on_ray.evaluation.delta == 5.0 and on_ray.evaluation.multiplicity.ambiguity == here.evaluation.multiplicity.ambiguity


def test_xgboost_and_lightgbm_on_the_cluster_give_the_in_process_comparison(local_ray):
    dataset = load_builtin("breast_cancer")
    config = ExplainConfig(methods=("tree_shap", "kernel_shap"), max_rows=6, kernel_samples=64)
    for family in ("xgboost", "lightgbm"):
        run_config = RunConfig(family=family, n_models=4, sklearn=SklearnConfig(n_estimators=10))
        on_ray, here = compare_on_ray(dataset, run_config, config, chunk=2), compare(dataset, run_config, config)
        assert on_ray.run.fingerprints == here.run.fingerprints and len(set(here.run.fingerprints)) == 4
        np.testing.assert_array_equal(on_ray.evaluation.proba, here.evaluation.proba)
        for name in config.methods:
            np.testing.assert_array_equal(on_ray.explanation.by_method[name].values,
                                          here.explanation.by_method[name].values)
