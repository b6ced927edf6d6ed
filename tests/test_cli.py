"""The command line: success path, clear one-line errors, --help, and the same numbers as the app."""
import importlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import shap  # noqa: F401  (imported up front so the app's first run fits its timeout)
from streamlit.testing.v1 import AppTest

from core.cli import main

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TINY = ["--dataset", "iris", "--models", "2", "--epochs", "5", "--hidden", "8", "--rows", "5",
        "--methods", "integrated_gradients", "--quiet"]


def run_cli(capsys, *args):
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "report.html"
    assert main(["compare", *TINY, "--out", str(out)]) == 0
    return out


def test_compare_writes_report_and_bundle_and_prints_the_finding(tmp_path, capsys):
    out = tmp_path / "r.html"
    code, stdout, stderr = run_cli(capsys, *TINY, "--out", str(out))
    assert code == 0, stderr
    assert "2 models, accuracy" in stdout
    assert out.exists() and out.with_suffix(".zip").exists()
    assert "<h2" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "Unknown dataset 'nope'"),
    (["--vary", "init,weather"], "Unknown randomness source(s) weather"),
    (["--models", "0"], "between 1 and 1000"),
    (["--methods", "tree_shap"], "None of tree_shap can explain a mlp model"),
    (["--hidden", "64,abc"], "Hidden sizes '64,abc' must be whole numbers"),
])
def test_bad_arguments_give_one_line_error_and_exit_2(tmp_path, capsys, args, message):
    code, stdout, stderr = run_cli(capsys, *TINY, *args, "--out", str(tmp_path / "r.html"))
    assert code == 2
    assert stderr.startswith("error: ") and message in stderr
    assert stderr.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "r.html").exists()


def test_bad_target_column_names_the_columns(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n")
    code, _, stderr = run_cli(capsys, "--csv", str(csv), "--target", "class", "--out", str(tmp_path / "r.html"))
    assert code == 2
    assert "Target column 'class' is not in the file" in stderr and "a, b, label" in stderr


def test_csv_without_target_is_a_clear_error(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("a,label\n1,x\n")
    code, _, stderr = run_cli(capsys, "--csv", str(csv), "--out", str(tmp_path / "r.html"))
    assert code == 2 and "--target" in stderr


def test_preset_with_conflicting_flags_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--preset", "Quick check: 3 small nets on iris", "--models", "4"])
    assert exit_info.value.code == 2
    assert "--models" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    for flag in ("--dataset", "--csv", "--target", "--preset", "--family", "--models", "--vary", "--seed",
                 "--test-fraction", "--epochs", "--hidden", "--dropout", "--batch-size", "--learning-rate",
                 "--patience", "--trees", "--methods", "--rows", "--background", "--kernel-samples", "--lime-samples", "--ig-steps", "--k",
                 "--out", "--quiet"):
        assert flag in text


def test_app_and_cli_give_identical_numbers_for_the_same_settings(cli_report):
    from core.export.bundle import load_bundle

    cli = load_bundle(cli_report.with_suffix(".zip").read_bytes())
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.selectbox(key="builtin").set_value("iris")
    at.text_input(key="hidden").set_value("8")
    at.number_input(key="epochs").set_value(5)
    at.slider(key="n_models").set_value(2)
    at.run()
    at.multiselect(key="methods_mlp").set_value(["integrated_gradients"])
    at.slider(key="rows").set_value(5)
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    app = at.session_state["comparison"]
    assert app.run.config == cli.run.config
    assert app.explanation.config == cli.explanation.config
    assert app.run.fingerprints == cli.run.fingerprints
    np.testing.assert_array_equal(app.evaluation.proba, cli.evaluation.proba)
    np.testing.assert_array_equal(app.explanation.by_method["integrated_gradients"].values,
                                  cli.explanation.by_method["integrated_gradients"].values)


@pytest.fixture
def no_training(monkeypatch):
    """Make training fail loudly, for checks that must happen before it."""
    def train(*args, **kwargs):
        raise AssertionError("trained before checking the settings")
    monkeypatch.setattr(importlib.import_module("core.run.compare"), "train", train)


@pytest.mark.parametrize("out, message", [
    ("missing/r.html", "does not exist"),
    (".", "is a folder"),
])
def test_an_unwritable_out_path_fails_before_training(tmp_path, capsys, no_training, out, message):
    code, _, stderr = run_cli(capsys, *TINY, "--out", str(tmp_path / out))
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_a_method_the_family_lacks_fails_before_training(tmp_path, capsys, no_training):
    code, _, stderr = run_cli(capsys, *TINY, "--methods", "tree_shap", "--out", str(tmp_path / "r.html"))
    assert code == 2 and "None of tree_shap can explain a mlp model" in stderr


def test_a_comparison_whose_bundle_could_not_load_back_fails_before_training(tmp_path, capsys, no_training):
    # 1,000 models x 300 digits rows x 64 pixels x 3 methods: about 460 MB of attributions alone
    code, _, stderr = run_cli(capsys, "--dataset", "digits", "--models", "1000", "--rows", "300", "--quiet",
                              "--out", str(tmp_path / "r.html"))
    assert code == 2 and stderr.count("\n") == 1 and "more than a bundle may hold (512 MB)" in stderr
    assert "Explain fewer rows" in stderr and not list(tmp_path.iterdir())


def test_ctrl_c_while_writing_ends_in_one_line_and_keeps_the_previous_report(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.html"
    assert run_cli(capsys, *TINY, "--out", str(out))[0] == 0
    before = out.read_bytes(), out.with_suffix(".zip").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(importlib.import_module("core.export.report"), "bundle_bytes", interrupted)
    code, _, stderr = run_cli(capsys, *TINY, "--seed", "1", "--out", str(out))
    assert code == 130 and stderr == "interrupted: no report or bundle was written.\n"
    assert (out.read_bytes(), out.with_suffix(".zip").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.zip"]  # no temporary file left


def test_check_passes_and_fails_a_bundle_on_the_interval_ends(cli_report, capsys):
    bundle = str(cli_report.with_suffix(".zip"))
    assert main(["check", bundle, "--min-agreement", "0", "--max-ambiguity", "1"]) == 0
    verdict, *lines = capsys.readouterr().out.splitlines()
    assert verdict.startswith("verdict: ")  # the test the headline reads, said before the criteria
    assert len(lines) == 2 and all(line.startswith("PASS ") for line in lines)
    assert "95% CI" in lines[0] and "agreement" in lines[0] and "ambiguity" in lines[1]
    assert main(["check", bundle, "--min-agreement", "1.0"]) == 1  # two nets never agree perfectly on every row
    assert capsys.readouterr().out.splitlines()[1].startswith("FAIL agreement")


def test_check_json_gives_each_criterion_with_its_interval(cli_report, capsys):
    import json

    code = main(["check", str(cli_report.with_suffix(".zip")), "--max-ambiguity", "0", "--json"])
    verdict = json.loads(capsys.readouterr().out)
    (criterion,) = verdict["criteria"]
    assert criterion["name"] == "prediction ambiguity" and criterion["rule"] == "at most"
    assert criterion["lo"] <= criterion["estimate"] <= criterion["hi"]
    assert verdict["passed"] is (criterion["hi"] <= 0) and code == (0 if verdict["passed"] else 1)


@pytest.mark.parametrize("args, message", [
    (["--min-agreement", "70"], "between 0 and 1"),
    (["--method", "lime"], "was not run"),
    (["--metric", "vibes"], "Unknown agreement metric"),
])
def test_check_with_bad_input_exits_2_with_one_line(cli_report, capsys, args, message):
    assert main(["check", str(cli_report.with_suffix(".zip")), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_check_of_a_file_that_is_not_a_bundle_exits_2(tmp_path, capsys):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert main(["check", str(junk), "--min-agreement", "0.5"]) == 2
    assert "not a SeedScope bundle" in capsys.readouterr().err


def test_compare_takes_the_gate_flags_and_exits_1_when_it_fails(tmp_path, capsys):
    code, stdout, _ = run_cli(capsys, *TINY, "--out", str(tmp_path / "r.html"), "--min-agreement", "1.0")
    assert code == 1 and "FAIL agreement" in stdout and (tmp_path / "r.zip").exists()


def _interrupt(tmp_path, moment) -> tuple[int, str, list[str]]:
    """`python -m core compare` sent SIGINT at `moment`: seconds after it starts, or "written" (once it has
    printed where its files are). Its exit code, what it wrote to stderr, and the files left in its folder."""

    out = tmp_path / "run"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "core", "compare", "--dataset", "iris", "--models", "3",
                             "--epochs", "30", "--methods", "kernel_shap,integrated_gradients", "--rows", "10",
                             "--out", str(out / "report.html")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if moment == "written":
        for line in proc.stdout:
            if line.startswith("bundle: "):
                break
    else:
        time.sleep(moment)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr, sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("moment", [0.3, 1.5, 4.0, "written"])
def test_ctrl_c_anywhere_ends_with_one_line_and_code_130_and_no_half_file(tmp_path, moment):
    code, stderr, files = _interrupt(tmp_path, moment)
    assert "Traceback" not in stderr, stderr
    assert files in ([], ["report.html", "report.zip"])  # both written whole, or none: no temporary file
    if code == 0:  # it had finished before the signal came
        assert files == ["report.html", "report.zip"]
        return
    if code == -signal.SIGINT:  # before the interpreter ran any code of ours: Python's startup re-raises the
        assert stderr.strip() == "" and files == []  # signal, which a shell reports as 130 too, with nothing said
        return
    assert code == 130
    last = stderr.strip().splitlines()[-1]
    assert last in ("interrupted.", "interrupted: no report or bundle was written.")
    if last == "interrupted: no report or bundle was written.":
        assert files == []


def test_same_logic_on_a_run_without_the_test_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(["compare", *TINY[:2], "--models", "1", "--epochs", "2", "--hidden", "4", "--rows", "3",
                 "--methods", "integrated_gradients", "--quiet", "--same-logic", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: This comparison holds no test") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
