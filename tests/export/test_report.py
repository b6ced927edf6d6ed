"""The HTML report opens offline and escapes what users typed; the bundle round-trips and refuses tampering."""
import html
import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import core
from core.export.bundle import bundle_bytes, library_versions, load_bundle, save_bundle
from core.errors import BundleError
from core.export.report import SECTIONS, render_html, write_report

EVIL = "<script>alert(1)</script>"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TINY_EXPLAIN = core.ExplainConfig(methods=("kernel_shap", "lime", "integrated_gradients"), max_rows=8,
                                  background_size=5, kernel_samples=100, lime_samples=300)


@pytest.fixture(scope="module")
def comparison():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({EVIL: rng.normal(size=160), "dose & <unit>": rng.normal(size=160),
                          "age": rng.normal(size=160)})
    frame["target"] = np.where(frame[EVIL] + 0.5 * frame["age"] + rng.normal(scale=0.5, size=160) > 0,
                               "yes <b>", "no")
    dataset = core.from_frame(frame, "target", name="evil<b>.csv")
    return core.compare(dataset, core.RunConfig(n_models=3, mlp=core.MLPConfig(hidden=(8,), epochs=10)),
                        TINY_EXPLAIN)


@pytest.fixture(scope="module")
def summary(comparison):
    # A wide tolerance so that the tiny run has equal-accuracy pairs to report.
    return core.summarize(comparison, k=2, tolerance=0.35)


@pytest.fixture(scope="module")
def page(comparison, summary):
    return render_html(comparison, summary)


@pytest.fixture(scope="module")
def bundle(comparison):
    return bundle_bytes(comparison)


def test_report_has_every_section(page):
    for key, title in SECTIONS.items():
        assert f'<h2 id="{key}">' in page
        assert title.replace("&", "&amp;") in page


def test_report_references_nothing_outside_itself(page):
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "src=" not in page


def test_report_escapes_every_user_string(page, comparison, summary):
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "evil&lt;b&gt;.csv" in page and "evil<b>" not in page
    assert "yes &lt;b&gt;" in page and "yes <b>" not in page
    assert "dose &amp; &lt;unit&gt;" in page
    titled = render_html(comparison, summary, title="<i>mine</i>")
    assert "<title>&lt;i&gt;mine&lt;/i&gt;</title>" in titled and "<i>mine" not in titled


def test_report_shows_the_headline_and_charts(page, summary):
    assert html.escape(summary.headline) in page
    assert page.count("<svg") >= 7
    assert "The least agreeing pair" in page


def test_report_renders_a_single_model_without_training_history():
    dataset = core.load_builtin("iris")
    single = core.compare(dataset, core.RunConfig(family="logistic_regression", n_models=1),
                          core.ExplainConfig(methods=("kernel_shap",), max_rows=5, background_size=5,
                                             kernel_samples=50))
    page = render_html(single, core.summarize(single, k=2))
    assert "Train at least two models" in page
    assert load_bundle(bundle_bytes(single)).run.history is None


def test_library_versions_name_the_format():
    versions = library_versions()
    assert versions["seedscope-format"] == "2"
    assert {"python", "numpy", "pandas", "scikit-learn", "torch", "altair"} <= set(versions)


def test_bundle_round_trip_gives_identical_numbers(comparison, summary, bundle):
    loaded = load_bundle(bundle)
    assert loaded.run.bank is None
    assert loaded.run.config == comparison.run.config
    assert loaded.explanation.config == comparison.explanation.config
    assert loaded.run.fingerprints == comparison.run.fingerprints
    assert loaded.run.dataset.content_hash == comparison.run.dataset.content_hash
    assert loaded.run.dataset.feature_names == comparison.run.dataset.feature_names
    assert_frame_equal(loaded.evaluation.scores.per_model, comparison.evaluation.scores.per_model)
    assert_frame_equal(loaded.evaluation.scores.summary, comparison.evaluation.scores.summary)
    for name in ("train_rows", "val_rows", "test_rows"):
        np.testing.assert_array_equal(getattr(loaded.run, name), getattr(comparison.run, name))
    np.testing.assert_array_equal(loaded.run.history.train_loss, comparison.run.history.train_loss)
    for name in ("rows", "proba", "predictions", "correct"):
        np.testing.assert_array_equal(getattr(loaded.evaluation, name), getattr(comparison.evaluation, name))
    np.testing.assert_array_equal(loaded.evaluation.multiplicity.disagreement,
                                  comparison.evaluation.multiplicity.disagreement)
    assert loaded.explanation.methods == comparison.explanation.methods
    for name, attr in comparison.explanation.by_method.items():
        np.testing.assert_array_equal(loaded.explanation.by_method[name].values, attr.values)
        assert loaded.explanation.by_method[name].samples == attr.samples
        if attr.halves is None:
            assert loaded.explanation.by_method[name].halves is None
        else:
            np.testing.assert_array_equal(loaded.explanation.by_method[name].halves, attr.halves)

    again = core.summarize(loaded, k=summary.k, tolerance=summary.tolerance)
    assert again.headline == summary.headline
    assert_frame_equal(again.pairs, summary.pairs)
    assert_frame_equal(again.contested, summary.contested)
    np.testing.assert_array_equal(again.accuracy_ci[0], summary.accuracy_ci[0])
    for name, ma in summary.by_method.items():
        for metric, matrix in ma.matrices.items():
            np.testing.assert_array_equal(again.by_method[name].matrices[metric], matrix)
    assert render_html(loaded, again) == render_html(comparison, summary)


def test_bundle_loads_from_path_and_file_object(comparison, tmp_path):
    path = save_bundle(comparison, tmp_path / "run.zip")
    assert load_bundle(path).run.fingerprints == comparison.run.fingerprints
    assert load_bundle(str(path)).run.n_models == 3
    with open(path, "rb") as handle:
        assert load_bundle(handle).run.n_models == 3


def test_write_report_puts_the_bundle_beside_the_page(comparison, summary, tmp_path):
    html_path, zip_path = write_report(comparison, summary, tmp_path / "out.html")
    assert zip_path == tmp_path / "out.zip" and html_path.read_text().startswith("<!DOCTYPE html>")
    with zipfile.ZipFile(zip_path) as zf:
        assert {"manifest.json", "metrics.csv", "arrays.npz", "agreement.json"} <= set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        agreement = json.loads(zf.read("agreement.json"))
    assert manifest["format"] == "seedscope-bundle" and manifest["version"] == 2
    assert manifest["run_config"]["mlp"]["hidden"] == [8]
    assert agreement["k"] == summary.k and agreement["headline"] == summary.headline
    for name, result in summary.by_method.items():
        for metric, matrix in result.matrices.items():
            np.testing.assert_array_equal(agreement["methods"][name]["matrices"][metric], matrix)


def _rewrite(bundle: bytes, **members) -> bytes:
    """The bundle with members replaced (bytes) or removed (None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            key = name.replace(".", "_")
            if key not in members:
                dst.writestr(name, src.read(name))
            elif members[key] is not None:
                dst.writestr(name, members[key])
    return out.getvalue()


def _manifest(bundle: bytes, change) -> bytes:
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("manifest.json"))
    change(manifest)
    return _rewrite(bundle, manifest_json=json.dumps(manifest))


def _npz(bundle: bytes, change) -> bytes:
    with np.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(bundle)).read("arrays.npz"))) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return _rewrite(bundle, arrays_npz=out.getvalue())


@pytest.mark.parametrize("tamper, message", [
    (lambda b: os.urandom(2000), "not a zip"),
    (lambda b: _rewrite(b, manifest_json=None), "no manifest.json"),
    (lambda b: _rewrite(b, arrays_npz=None), "no arrays.npz"),
    (lambda b: _rewrite(b, manifest_json=b"{not json"), "not valid JSON"),
    (lambda b: _manifest(b, lambda m: m.update(format="something-else")), "format"),
    (lambda b: _manifest(b, lambda m: m.update(version=99)), "version 99"),
    (lambda b: _manifest(b, lambda m: m["run_config"].update(n_models=0)), "settings are invalid"),
    (lambda b: _manifest(b, lambda m: m["run_config"].update(colour="red")), "does not match"),
    (lambda b: _manifest(b, lambda m: m.pop("fingerprints")), "lacks the field"),
    (lambda b: _manifest(b, lambda m: m["dataset"].update(content_hash="0" * 16)), "content hash"),
    (lambda b: _npz(b, lambda a: a.update({"evaluation.proba": a["evaluation.proba"][:, :-1]})), "evaluation.proba"),
    (lambda b: _npz(b, lambda a: a.pop("attributions.lime.values")), "attributions.lime.values"),
    (lambda b: _npz(b, lambda a: a.update({"dataset.y": a["dataset.y"] + 5})), "outside"),
    (lambda b: _npz(b, lambda a: a.update({"dataset.X": a["dataset.X"].astype(str)})), "dataset.X"),
])
def test_tampered_bundles_are_refused(bundle, tamper, message):
    with pytest.raises(BundleError, match=message) as info:
        load_bundle(tamper(bundle))
    assert "SeedScope" in str(info.value)


UNPICKLED = []


def _record(value):
    UNPICKLED.append(value)
    return value


class _Trap:
    def __reduce__(self):
        return _record, ("unpickled",)


def test_pickled_arrays_are_refused_without_unpickling(bundle):
    trapped = np.empty(1, dtype=object)
    trapped[0] = _Trap()
    with pytest.raises(BundleError, match="will not read"):
        load_bundle(_npz(bundle, lambda a: a.update({"dataset.X": trapped})))
    assert UNPICKLED == []


def test_missing_file_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="check the path"):
        load_bundle(tmp_path / "nope.zip")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_report_renders_offline_in_chromium(page, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    requests = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            tab = context.new_page()
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri(), wait_until="load")
            assert tab.get_by_role("heading", name="Finding").is_visible()
            assert tab.locator("svg").count() > 0
            assert tab.locator("svg").first.bounding_box()["width"] > 100
            assert tab.get_by_text(EVIL).count() > 0  # shown as text, never run
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=ARTIFACTS / "report.png", full_page=True)
        finally:
            browser.close()
    assert requests == [path.as_uri()]


def test_an_image_shape_that_does_not_fit_the_features_is_refused(bundle):
    def wrong_shape(manifest):
        manifest["dataset"]["image_shape"] = [3, 3]

    with pytest.raises(BundleError, match="image shape"):
        load_bundle(_manifest(bundle, wrong_shape))


def test_a_report_of_many_models_draws_distributions_and_keeps_every_model_one_click_away():
    """72 models: a heatmap would be 5,184 cells (over altair's 5,000 rows, and unreadable), a dot or a
    line per model pages long. The charts show distributions across models; the table stays whole."""
    iris = core.load_builtin("iris")
    many = core.compare(iris, core.RunConfig(n_models=72, mlp=core.MLPConfig(hidden=(4,), epochs=3)),
                        core.ExplainConfig(methods=("gradient", "integrated_gradients"), max_rows=5))
    page = render_html(many, core.summarize(many))
    for title in ("Share of rows two models predict differently", "Gradient: Feature agreement@",
                  "Integrated gradients: Feature agreement@"):  # each pair of models, binned
        assert re.search(re.escape(title) + r"[^<]*\(72 models: 2,556 pairs\)", page), title
    assert "Importance across 72 models" in page and "median of 72 models, 10-90% band" in page
    assert "Test accuracy: how many models reach each" in page and "Test accuracy of 72 models" in page
    assert "<details><summary>Every model's scores and fingerprint (72 models)" in page
    assert all(fingerprint in page for fingerprint in many.run.fingerprints)


def test_a_bundle_too_large_to_load_back_is_refused_and_the_estimate_bounds_it(comparison, summary, monkeypatch):
    from core.export import bundle as bundle_module
    written = zipfile.ZipFile(io.BytesIO(bundle_bytes(comparison, summary)))
    npz = written.read("arrays.npz")
    arrays = np.load(io.BytesIO(npz), allow_pickle=False)
    # What loading holds, counted as _load counts it: manifest.json, arrays.npz and every array unpacked.
    held = len(written.read("manifest.json")) + len(npz) + sum(arrays[k].nbytes + 128 for k in arrays.files)
    expected = bundle_module.expected_bytes(comparison.run.dataset, comparison.run.config,
                                            comparison.explanation.config)
    assert held <= expected <= held + (1 << 20)  # an upper bound, and not a loose one for a small run
    monkeypatch.setattr(bundle_module, "_MAX_UNZIPPED", 20_000)  # this bundle's arrays alone are larger
    with pytest.raises(core.ConfigError, match="more than a bundle may hold .0 MB., so it could not be loaded back"):
        bundle_bytes(comparison, summary)


def test_every_output_tells_the_one_verdict_of_the_like_with_like_test(comparison, tmp_path, capsys):
    """The headline, the report, the bundle's agreement.json and `check` all read one test."""
    import json
    import zipfile

    from core.cli import main

    summary = core.summarize(comparison)
    head = summary.by_method[summary.headline_method]
    sentence = core.verdict_text(head.verdict, summary.headline_method, precision=summary.precision)
    assert sentence in summary.headline
    assert html.escape(sentence, quote=True) in render_html(comparison, summary)
    bundle = tmp_path / "run.zip"
    bundle.write_bytes(core.bundle_bytes(comparison, summary))
    with zipfile.ZipFile(bundle) as zf:
        stored = json.loads(zf.read("agreement.json"))["methods"][summary.headline_method]["verdict"]
    assert stored["outcome"] == head.verdict.outcome and stored["samples"] == head.verdict.samples
    assert main(["check", str(bundle), "--min-agreement", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"verdict: {sentence}"
