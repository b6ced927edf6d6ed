"""Malformed bundles end in a BundleError in bounded memory; identical runs give identical bytes; saves are atomic."""
import io
import json
import math
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core
from core.export import bundle as bundle_module
from core.export.bundle import atomic_write_bytes, bundle_bytes, load_bundle, save_bundle
from core.errors import BundleError
from core.agree.scores import SCORES

TINY_RUN = core.RunConfig(n_models=3, mlp=core.MLPConfig(hidden=(8,), epochs=5))
TINY_EXPLAIN = core.ExplainConfig(methods=("kernel_shap", "gradient"), max_rows=6, background_size=5,
                                  kernel_samples=100)
APP = str(Path(__file__).resolve().parents[2] / "app.py")
UNFORESEEN = "failed unexpectedly"  # load_bundle's last resort; no case below may need it


def _dataset() -> core.Dataset:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120), "c": rng.normal(size=120)})
    frame["target"] = np.where(frame["a"] + rng.normal(scale=0.5, size=120) > 0, "yes", "no")
    return core.from_frame(frame, "target", name="tiny.csv")


@pytest.fixture(scope="module")
def comparison():
    return core.compare(_dataset(), TINY_RUN, TINY_EXPLAIN)


@pytest.fixture(scope="module")
def bundle(comparison):
    return bundle_bytes(comparison)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(members: dict[str, bytes], compress_type: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress_type) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _with_manifest(bundle: bytes, change) -> bytes:
    members = _members(bundle)
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    return _zip(members | {"manifest.json": json.dumps(manifest)})


def _with_arrays(bundle: bytes, change) -> bytes:
    """The bundle with arrays.npz rewritten by np.savez, as someone editing a bundle by hand would."""
    members = _members(bundle)
    with np.load(io.BytesIO(members["arrays.npz"])) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    npz = io.BytesIO()
    np.savez(npz, **arrays)
    return _zip(members | {"arrays.npz": npz.getvalue()})


def _with_npz_members(bundle: bytes, **npz_members: bytes) -> bytes:
    members = _members(bundle)
    return _zip(members | {"arrays.npz": _zip(_members(members["arrays.npz"]) | npz_members)})


def _patch_central(data: bytes, name: str, offset: int, value: int, fmt: str = "<H") -> bytes:
    """The zip with one field of `name`'s central-directory entry overwritten (offsets per the zip spec)."""
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46:entry + 46 + len(name)] != name.encode():
        entry = data.index(b"PK\x01\x02", entry + 1)
    patched = bytearray(data)
    struct.pack_into(fmt, patched, entry + offset, value)
    return bytes(patched)


FLAGS, METHOD, FILE_SIZE = 8, 10, 24  # offsets in a central-directory entry


def _refused(data: bytes, match: str) -> str:
    with pytest.raises(BundleError, match=match) as info:
        load_bundle(data)
    message = str(info.value)
    assert "SeedScope" in message and UNFORESEEN not in message
    return message


# ---------------------------------------------------------------- the zip container

def test_an_encrypted_member_is_refused(bundle):
    _refused(_patch_central(bundle, "manifest.json", FLAGS, 0x1), "manifest.json is encrypted")


def test_an_unknown_compression_method_is_refused(bundle):
    _refused(_patch_central(bundle, "manifest.json", METHOD, 99), "compression method 99")


def test_a_corrupt_deflate_stream_is_refused(bundle):
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        header = zf.getinfo("manifest.json").header_offset
    name_length, extra_length = struct.unpack_from("<HH", bundle, header + 26)
    start = header + 30 + name_length + extra_length  # where the local header ends and the deflate data begins
    corrupt = bytearray(bundle)
    corrupt[start] = 0xFF  # block type 3, which deflate reserves
    _refused(bytes(corrupt), "manifest.json cannot be unpacked")


def test_a_bzip2_member_is_refused_even_when_small(bundle):
    # bzip2 inflates a whole read at once: 79 bytes of it make 64 MiB, so no bzip2 member is read at all.
    members = _members(bundle)
    _refused(_zip(members, zipfile.ZIP_BZIP2), "compression method 12")


def _bomb(bundle: bytes, compress_type: int, inflated: int, declared: int) -> bytes:
    """The bundle whose arrays.npz is `inflated` zero bytes, declaring `declared` bytes."""
    members = _members(bundle)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress_type) as zf:
        zf.writestr("manifest.json", members["manifest.json"])
        zf.writestr("arrays.npz", bytes(inflated))
    return _patch_central(out.getvalue(), "arrays.npz", FILE_SIZE, declared, "<I")


def _peak_bytes_while_refusing(data: bytes, match: str) -> int:
    tracemalloc.start()
    try:
        _refused(data, match)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("compress_type, match", [(zipfile.ZIP_DEFLATED, "cannot be unpacked"),
                                                  (zipfile.ZIP_BZIP2, "compression method 12")])
def test_a_zip_bomb_lying_about_its_size_is_refused_in_bounded_memory(bundle, compress_type, match):
    bomb = _bomb(bundle, compress_type, 64 * 2**20, declared=1000)
    assert len(bomb) < 100_000
    assert _peak_bytes_while_refusing(bomb, match) < 8 * 2**20


def test_a_member_declaring_more_than_the_limit_is_refused_before_inflating(bundle, monkeypatch):
    monkeypatch.setattr(bundle_module, "_MAX_UNZIPPED", 4 * 2**20)
    honest = _bomb(bundle, zipfile.ZIP_DEFLATED, 16 * 2**20, declared=16 * 2**20)
    assert _peak_bytes_while_refusing(honest, "arrays.npz would take it past 4 MB unpacked") < 2**20


def test_arrays_past_what_is_left_of_the_limit_are_refused(bundle, monkeypatch):
    members = _members(bundle)
    monkeypatch.setattr(bundle_module, "_MAX_UNZIPPED", len(members["manifest.json"]) + len(members["arrays.npz"]))
    _refused(bundle, "array .* would take it past")


def test_a_file_larger_than_any_bundle_is_refused_before_it_is_read(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_module, "_MAX_UNZIPPED", len(bundle) - 1)
    path = tmp_path / "big.zip"
    path.write_bytes(bundle)
    with pytest.raises(BundleError, match="larger than"):
        load_bundle(path)
    with open(path, "rb") as handle, pytest.raises(BundleError, match="larger than"):
        load_bundle(handle)


# ---------------------------------------------------------------- manifest.json

def test_deeply_nested_json_is_refused(bundle):
    _refused(_zip(_members(bundle) | {"manifest.json": "[" * 100_000 + "]" * 100_000}), "nested too deeply")


def test_a_5000_digit_integer_is_refused(bundle):
    members = _members(bundle)
    manifest = members["manifest.json"].replace(b'"seed": 0', b'"seed": ' + b"7" * 5000, 1)
    assert manifest != members["manifest.json"]
    _refused(_zip(members | {"manifest.json": manifest}), "a number SeedScope never writes")


def test_nan_in_the_manifest_is_refused(bundle):
    members = _members(bundle)
    manifest = members["manifest.json"].replace(b'"dropout": 0.1', b'"dropout": NaN', 1)
    assert manifest != members["manifest.json"]
    _refused(_zip(members | {"manifest.json": manifest}), "a number SeedScope never writes")


def test_an_unknown_skipped_method_is_refused(bundle):
    _refused(_with_manifest(bundle, lambda m: m.update(skipped=["magic"])), "known explanation methods")


def test_a_method_both_explained_and_skipped_is_refused(bundle):
    _refused(_with_manifest(bundle, lambda m: m.update(skipped=["gradient"])), "each once")


def test_notes_that_are_not_text_are_refused(bundle):
    _refused(_with_manifest(bundle, lambda m: m["dataset"].update(notes=[1, 2])), r"notes\[0\] must be text")


@pytest.mark.parametrize("shape", [[-1, -3], [3.0, 1.0], [3], [True, 3]])
def test_an_image_shape_that_is_not_two_positive_whole_numbers_is_refused(bundle, shape):
    _refused(_with_manifest(bundle, lambda m: m["dataset"].update(image_shape=shape)), "image.shape")


def test_a_real_image_shape_loads(bundle):
    loaded = load_bundle(_with_manifest(bundle, lambda m: m["dataset"].update(image_shape=[1, 3])))
    assert loaded.run.dataset.image_shape == (1, 3)


@pytest.mark.parametrize("field", ["name", "class_names", "notes", "feature_names"])
def test_a_lone_surrogate_in_any_string_is_refused(bundle, field):
    def add_surrogate(manifest):
        value = manifest["dataset"][field]
        manifest["dataset"][field] = "bad \ud800" if isinstance(value, str) else ["bad \ud800", *value[1:]]

    _refused(_with_manifest(bundle, add_surrogate), "not valid Unicode")


@pytest.mark.parametrize("path, field", [(("run_config",), "seed"), (("run_config", "mlp"), "dropout"),
                                         (("run_config", "sklearn"), "C"), (("explain_config",), "noise_floor")])
def test_a_config_missing_a_field_is_refused_not_defaulted(bundle, path, field):
    def drop(manifest):
        config = manifest
        for key in path:
            config = config[key]
        del config[field]

    _refused(_with_manifest(bundle, drop), f"{'.'.join(path)} lacks the field '{field}'")


def test_a_config_with_an_unknown_field_is_refused(bundle):
    _refused(_with_manifest(bundle, lambda m: m["run_config"]["mlp"].update(colour="red")),
             "run_config.mlp does not match .* 'colour'")


@pytest.mark.parametrize("path, value, match", [
    (("explain_config", "noise_floor"), "yes", "true or false"),
    (("run_config", "mlp", "hidden"), [8.5], "whole number"),
    (("run_config", "n_models"), "3", "whole number"),
    (("explain_config", "seed"), -1, "at least 0"),
    (("run_config", "test_fraction"), True, "finite number"),
    (("run_config", "vary"), "init", "must be a list"),
    (("run_config", "family"), 7, "must be text"),
])
def test_a_config_field_of_the_wrong_type_is_refused(bundle, path, value, match):
    def change(manifest):
        config = manifest
        for key in path[:-1]:
            config = config[key]
        config[path[-1]] = value

    _refused(_with_manifest(bundle, change), f"{'.'.join(path)}.*{match}")


# ---------------------------------------------------------------- arrays.npz

def test_an_npz_member_that_is_not_an_array_is_refused(bundle):
    _refused(_with_npz_members(bundle, **{"dataset.X.npy": b"hello"}), "'dataset.X' in arrays.npz is not a numpy array")
    _refused(_with_npz_members(bundle, **{"notes.txt": b"hello"}), "'notes.txt', which is not a numpy array")


def test_an_array_header_declaring_8_tib_is_refused_without_allocating(bundle):
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    npy.write(bytes(64))
    message = _refused(_with_npz_members(bundle, **{"dataset.X.npy": npy.getvalue()}), "does not fit its 64 bytes")
    assert "(1099511627776,)" in message


def test_attributions_all_nan_are_refused(bundle):
    _refused(_with_arrays(bundle, lambda a: a["attributions.gradient.values"].fill(np.nan)),
             "'attributions.gradient.values' holds NaN or infinite")


def test_infinite_probabilities_are_refused(bundle):
    def inf_proba(arrays):
        arrays["evaluation.proba"][0, 0, 0] = np.inf

    _refused(_with_arrays(bundle, inf_proba), "'evaluation.proba' holds NaN or infinite")


def test_nan_roc_auc_loads_but_nan_accuracy_or_infinite_auc_is_refused(bundle):
    def set_score(column, value):
        def change(arrays):
            arrays["scores.per_model"][0, SCORES.index(column)] = value
            arrays["scores.summary"][1, SCORES.index(column)] = value
        return change

    # A model whose test rows lack a class has no AUC (metrics._roc_auc), so NaN there is legitimate.
    loaded = load_bundle(_with_arrays(bundle, set_score("roc_auc", np.nan)))
    assert math.isnan(loaded.evaluation.scores.per_model["roc_auc"][0])
    _refused(_with_arrays(bundle, set_score("accuracy", np.nan)), "'scores.per_model' holds NaN")
    _refused(_with_arrays(bundle, set_score("roc_auc", np.inf)), "'scores.per_model' holds NaN or infinite")


def test_a_diverged_training_loss_loads(bundle):
    def diverge(arrays):
        arrays["history.train_loss"][0, -1] = np.inf

    assert np.isinf(load_bundle(_with_arrays(bundle, diverge)).run.history.train_loss[0, -1])


@pytest.mark.parametrize("reorder", [lambda rows: rows[::-1], lambda rows: np.sort(np.r_[rows[1:], rows[1]])])
def test_unsorted_or_repeated_evaluation_rows_are_refused(bundle, reorder):
    _refused(_with_arrays(bundle, lambda a: a.update({"evaluation.rows": reorder(a["evaluation.rows"])})),
             "evaluation rows are not sorted and distinct")


# ---------------------------------------------------------------- fuzzing

def _same_numbers(loaded: core.Comparison, original: core.Comparison) -> bool:
    ex, ev = loaded.explanation, loaded.evaluation
    return (all(np.array_equal(ex.by_method[name].values, attr.values)
                for name, attr in original.explanation.by_method.items())
            and np.array_equal(ev.proba, original.evaluation.proba)
            and ev.scores.per_model.equals(original.evaluation.scores.per_model))


def test_random_byte_flips_and_truncations_load_unchanged_or_are_refused(comparison, bundle):
    rng = np.random.default_rng(2024)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        data = bytearray(bundle)
        if rng.random() < 0.25:
            data = data[:rng.integers(len(data))]
        else:
            for position in rng.integers(len(data), size=rng.integers(1, 4)):
                data[position] = rng.integers(256)
        try:
            loaded = load_bundle(bytes(data))
        except BundleError as exc:
            assert UNFORESEEN not in str(exc)
            outcomes["refused"] += 1
        else:
            assert _same_numbers(loaded, comparison)
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 200  # most flips hit checksummed data


def test_random_flips_in_array_headers_are_refused_or_load(bundle):
    # Flips behind valid checksums reach numpy's header parser, which raises more than ValueError.
    rng = np.random.default_rng(7)
    npz = _members(_members(bundle)["arrays.npz"])
    names = sorted(npz)
    for _ in range(200):
        name = names[rng.integers(len(names))]
        npy = bytearray(npz[name])
        for position in rng.integers(128, size=rng.integers(1, 3)):
            npy[position] = rng.integers(256)
        try:
            load_bundle(_with_npz_members(bundle, **{name: bytes(npy)}))
        except BundleError as exc:
            assert UNFORESEEN not in str(exc)


# ---------------------------------------------------------------- writing

def test_identical_comparisons_give_byte_identical_bundles(comparison, bundle):
    summary = core.summarize(comparison, k=2)
    assert bundle_bytes(comparison) == bundle
    assert bundle_bytes(comparison, summary) == bundle_bytes(comparison, summary)
    again = core.compare(_dataset(), TINY_RUN, TINY_EXPLAIN)
    assert bundle_bytes(again) == bundle


def test_no_member_carries_a_timestamp(bundle):
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf, zipfile.ZipFile(io.BytesIO(zf.read("arrays.npz"))) as npz:
        infos = zf.infolist() + npz.infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


def test_a_loaded_bundle_saves_back_to_the_same_bytes(bundle):
    assert bundle_bytes(load_bundle(bundle)) == bundle


def test_an_interrupted_save_keeps_the_old_file_and_leaves_no_temporary(comparison, tmp_path, monkeypatch):
    path = tmp_path / "run.zip"
    path.write_bytes(b"the previous bundle")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_module.os, "fsync", interrupted)  # the data is written, not yet renamed
    with pytest.raises(KeyboardInterrupt):
        save_bundle(comparison, path)
    assert path.read_bytes() == b"the previous bundle"
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    assert atomic_write_bytes(path, b"new contents") == path
    assert path.read_bytes() == b"new contents"
    assert list(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------- the app

def test_the_app_shows_a_bad_bundle_as_an_error_then_loads_a_good_one(bundle):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/report.py")
    at.run()
    bad = _with_arrays(bundle, lambda a: a["attributions.gradient.values"].fill(np.nan))
    at.file_uploader(key="bundle_upload").set_value(("bad.zip", bad, "application/zip"))
    at.run()
    assert not at.exception
    assert any("NaN or infinite" in e.value for e in at.error)
    at.file_uploader(key="bundle_upload").set_value(("good.zip", bundle, "application/zip"))
    at.run()
    assert not at.exception and not at.error
    assert any("Loaded good.zip" in s.value for s in at.success)


def test_a_bundle_from_before_sklearn_config_was_named_still_loads(comparison, bundle):
    old = _with_manifest(bundle, lambda m: m["run_config"].update(trees=m["run_config"].pop("sklearn")))
    assert load_bundle(old).run.config == comparison.run.config


def test_a_bundle_written_before_core_moved_into_rooms_loads_with_the_same_models():
    """data/bundle_before_rooms.zip was written by the code before the move into rooms (3 MLPs on iris,
    KernelSHAP, LIME and IG on 8 rows): no stored name refers to a module path, so it loads, and
    the same configuration trains the same models (fingerprints) today."""
    old = core.load_bundle(Path(__file__).parent / "data" / "bundle_before_rooms.zip")
    assert old.run.config.n_models == 3 and len(old.explanation.rows) == 8
    assert set(old.explanation.by_method) == {"kernel_shap", "lime", "integrated_gradients"}
    fresh = core.train(old.run.dataset, old.run.config)
    assert fresh.fingerprints == old.run.fingerprints
    assert core.summarize(old).headline


def test_a_bundle_without_verdicts_tells_its_story_and_renders_its_report():
    """Bundles written before the like-with-like test carry no verdict: every step of the story and the
    report still read, saying that the explainer's noise was not tested (the report page once crashed)."""
    old = core.load_bundle(Path(__file__).parent / "data" / "bundle_before_rooms.zip")
    summary = core.summarize(old)
    assert summary.by_method[summary.headline_method].verdict is None
    steps = core.story(old, summary)
    assert len(steps) == 6 and all(step.text for step in steps)
    assert "<html" in core.render_html(old, summary).lower()
