"""Checks that catch what they claim: `verify` and `ExportedModel` refuse
tampered, missing, unlisted or escaping files; every entry point refuses
inputs no model can take with a `ValueError` naming the argument; the
command line's exit codes say which of those happened."""

import json
import os
import re
import shutil
import zipfile

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from keras_attn import cli, integrity, runtime, validation
from keras_attn.inference import decoding

pytestmark = pytest.mark.tensorflow


@pytest.fixture
def exported(exports):
    """The shared `transformer` export (its `model.keras` included)."""
    return exports["transformer"]


def tampered_copy(exported, tmp_path, change):
    _, directory = exported
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    change(copy)
    return copy


def rewrite_manifest(edit):
    def change(directory):
        manifest = json.loads((directory / "manifest.json").read_text())
        edit(manifest)
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return change


def append_bytes(name):
    def change(directory):
        with open(directory / name, "ab") as f:
            f.write(b"\0\0\0\0")
    return change


def flip_a_byte(name):
    def change(directory):
        data = bytearray((directory / name).read_bytes())
        data[len(data) // 2] ^= 1
        (directory / name).write_bytes(bytes(data))
    return change


@pytest.mark.parametrize("change,reason", [
    (append_bytes("step.tflite"), r"step\.tflite: [\d,]+ bytes, the manifest says [\d,]+"),
    (flip_a_byte("prefill.onnx"), "prefill.onnx: sha256 differs"),
    (flip_a_byte("model.keras"), "model.keras: sha256 differs"),
    (lambda d: os.remove(d / "forward.onnx"), "forward.onnx: missing"),
    (lambda d: (d / "extra.bin").write_bytes(b"x"), "extra.bin: not listed in the manifest"),
    (rewrite_manifest(lambda m: m["artifacts"][0].update(sha256="0" * 64)), "sha256 differs"),
    (rewrite_manifest(lambda m: m["artifacts"][0].update(path="../model.keras")), "not a relative path inside"),
])
def test_verify_fails_on_a_broken_export(exported, tmp_path, capsys, change, reason):
    model, _ = exported
    copy = tampered_copy(exported, tmp_path, change)
    assert cli.main(["verify", str(copy), "--model", str(exported[1].parent / "transformer.keras")]) == 1
    table = capsys.readouterr().out
    assert table.strip().endswith("FAILED") and re.search(reason, table)
    failed = [row for row in json.loads((copy / "parity.json").read_text())["rows"] if row["status"] == "fail"]
    assert failed and all("reason" in row or row["case"] != "integrity" for row in failed)


def test_verify_passes_the_untouched_export(exported, capsys):
    model, directory = exported
    assert cli.main(["verify", str(directory)]) == 0  # its own model.keras
    rows = json.loads((directory / "parity.json").read_text())["rows"]
    assert {row["path"] for row in rows if row["case"] == "integrity"} >= {"model.keras", "forward.onnx"}
    (directory / "parity.json").unlink()


def test_verify_fails_searches_that_compute_another_models_tokens(exported, capsys):
    # The export against a model of the same class with other weights: each whole search, as one
    # graph, is judged by its tokens and scores, like the pieces by their logits.
    from keras_attn import zoo
    from keras_attn.export import parity
    from tests.test_zoo import SMALL

    _, directory = exported
    other = zoo.build("transformer", **SMALL["transformer"])
    report = parity.verify(directory, other)
    searches = [row for row in report["rows"] if row["case"] in ("greedy", "beam") and row["role"] != "step"]
    assert len(searches) == 6 and all(row["status"] == "fail" for row in searches), parity.format_table(report)
    assert not report["passed"]
    parity.verify(directory, exported[0])  # parity.json as the other tests read it


def test_a_link_leading_out_of_the_export_is_refused(exported, tmp_path):
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"x")

    def link(directory):
        os.remove(directory / "forward.onnx")
        os.symlink(outside, directory / "forward.onnx")

    copy = tampered_copy(exported, tmp_path, link)
    with pytest.raises(integrity.IntegrityError, match="leads outside the export directory"):
        integrity.resolve(copy, "forward.onnx")


def test_a_link_inside_a_folder_artifact_fails_verify_even_to_a_file_inside_the_export(exported, tmp_path, capsys):
    def link(directory):
        variables = directory / "prefill_saved_model" / "variables"
        os.symlink(directory / "manifest.json", variables / "extra")

    copy = tampered_copy(exported, tmp_path, link)
    assert cli.main(["verify", str(copy)]) == 1
    assert "prefill_saved_model: holds a link (variables/extra)" in capsys.readouterr().out


def test_the_runtime_refuses_a_tampered_artifact(exported, tmp_path):
    copy = tampered_copy(exported, tmp_path, flip_a_byte("step.onnx"))
    with pytest.raises(integrity.IntegrityError, match="step.onnx: sha256 differs"):
        runtime.ExportedModel(copy)
    runtime.ExportedModel(copy, format="tflite")  # the TFLite files are intact


@pytest.mark.parametrize("argv_tail,code,message", [
    (["verify", "{missing}"], 2, "holds no manifest.json"),
    (["verify", "{bad_manifest}"], 2, "is not valid JSON"),
    (["verify", "{export}", "--model", "{truncated}"], 2, "not a readable .keras file"),
    (["verify", "{export}", "--model", "{unknown_class}"], 2, "names a class keras-attn does not have ('NoSuchModel')"),
    (["export", "{unknown_class}", "--out", "{out}"], 2, "names a class keras-attn does not have"),
    (["verify", "{export}", "--model", "{flipped}"], 2, "not a readable .keras file (Bad CRC-32"),
    (["train", "transformer-classifier", "--task-file", "{text}", "--out", "{out}"], 2,
     "not a keras-attn task file (not a .npz archive)"),
    (["pretrain", "bert-tiny", "--corpus-file", "{text}", "--out", "{out}"], 2,
     "not a keras-attn pretraining corpus (not a .npz archive)"),
])
def test_bad_input_exits_2_with_one_line(exported, tmp_path, capsys, argv_tail, code, message):
    _, directory = exported
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes((directory / "model.keras").read_bytes()[:500])
    flipped = tmp_path / "flipped.keras"
    flip_a_byte("model.keras")(tampered_copy(exported, tmp_path, lambda copy: None))
    flipped.write_bytes((tmp_path / "copy" / "model.keras").read_bytes())
    unknown_class = tmp_path / "unknown.keras"
    with zipfile.ZipFile(directory / "model.keras") as original, zipfile.ZipFile(unknown_class, "w") as renamed:
        for item in original.infolist():
            content = original.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                config["class_name"], config["registered_name"] = "NoSuchModel", "keras_attn>NoSuchModel"
                content = json.dumps(config)
            renamed.writestr(item, content)
    text = tmp_path / "five.txt"
    text.write_text("hello")
    paths = {"missing": tmp_path / "nothing", "bad_manifest": bad, "export": directory, "truncated": truncated,
             "flipped": flipped, "unknown_class": unknown_class, "text": text, "out": tmp_path / "out"}
    assert cli.main([arg.format(**paths) for arg in argv_tail]) == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_verify_gives_its_verdict_where_it_cannot_save_its_report(exported, tmp_path, capsys, monkeypatch):
    from keras_attn.export import parity

    copy = tampered_copy(exported, tmp_path, lambda directory: None)
    model = exported[0]

    def read_only(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(parity.json, "dump", read_only)  # as a read-only folder answers the write
    report = parity.verify(copy, model)
    assert report["passed"] and report["not_saved"] == "parity.json could not be saved: Permission denied"
    assert sorted(os.listdir(copy)) == sorted(os.listdir(exported[1]))  # no partial report left
    assert "(the verdict stands; parity.json could not be saved" in parity.format_table(report)


@pytest.mark.parametrize("edit,reason", [
    (lambda manifest: manifest["runtime"].update(pad_id=manifest["runtime"]["pad_id"] + 1), "runtime.pad_id is"),
    (lambda manifest: manifest["runtime"]["vocabulary_sizes"].update(encoder_token_ids=99), "runtime.vocabulary_sizes"),
    (lambda manifest: manifest["lengths"].update(max_source_length=3), "lengths.max_source_length is 3"),
    (lambda manifest: manifest["runtime"].update(beams=4), "runtime.beams: not a setting of this model"),
])
def test_verify_fails_manifest_settings_that_are_not_the_models(exported, tmp_path, capsys, edit, reason):
    copy = tampered_copy(exported, tmp_path, rewrite_manifest(edit))
    assert cli.main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "manifest.json                      settings" in out and reason in out and "FAILED" in out


def test_the_runtime_refuses_a_manifest_that_does_not_describe_its_files(exported, tmp_path):
    def wrong_vocabulary(manifest):
        manifest["runtime"]["target_vocabulary_size"] += 1

    def renamed_output(manifest):
        step = next(a for a in manifest["artifacts"] if a["role"] == "step" and a["format"] == "onnx")
        step["outputs"][0]["name"] = "renamed"

    for edit, message in ((wrong_vocabulary, r"its logits span (\d+) tokens, the manifest records a target vocabulary of"),
                          (renamed_output, "its outputs are")):
        copy = tampered_copy(exported, tmp_path / edit.__name__, rewrite_manifest(edit))
        with pytest.raises(integrity.IntegrityError, match=message):
            runtime.ExportedModel(copy, host_loop=True).greedy(np.array([[5, 6]]), max_length=3)


def test_an_internal_error_is_not_reported_as_a_failed_check(exported, capsys, monkeypatch):
    from keras_attn.export import parity

    monkeypatch.setattr(parity, "verify", lambda directory, model: {}["no such key"])
    _, directory = exported
    assert cli.main(["verify", str(directory)]) == 3
    assert "internal error" in capsys.readouterr().err


BAD_IDS = [
    (np.ones((2, 3), "float32"), "integer token ids"),
    (np.array(["a", "b"]), "integer token ids"),
    (np.ones((2, 3, 1), "int32"), "must be 2-D"),
    (np.ones((0, 3), "int32"), "at least one row"),
    (np.array([[5, -1]]), r"outside \[0, 40\)"),
    (np.array([[5, 40]]), r"outside \[0, 40\)"),
    (np.ones((1, 17), "int32"), "at most 16"),
]


@pytest.mark.parametrize("ids,message", BAD_IDS)
def test_decoding_and_the_runtime_refuse_bad_source_ids(exported, ids, message):
    model, directory = exported
    exported_model = runtime.ExportedModel(directory)
    for decode in (lambda x: decoding.greedy_decode(model, x), lambda x: decoding.beam_decode(model, x),
                   exported_model.greedy, exported_model.beam):
        with pytest.raises(ValueError, match=f"`source_ids`.*{message}|{message}"):
            decode(ids)


def test_search_arguments_are_checked(exported):
    model, directory = exported
    exported_model = runtime.ExportedModel(directory)
    ids = np.array([[5, 6, 0]])
    for bad in (0, -3, 2.5, 31, 10**6):  # no wider than the target vocabulary (30)
        with pytest.raises(ValueError, match=r"`beam_size` must be an integer in \[1, 30\]"):
            decoding.beam_decode(model, ids, beam_size=bad)
        with pytest.raises(ValueError, match=r"`beam_size` must be an integer in \[1, 30\]"):
            exported_model.beam(ids, beam_size=bad)
    for bad in (-0.5, float("nan"), float("inf"), "0.6", True):
        with pytest.raises(ValueError, match="`alpha` must be a finite number >= 0"):
            decoding.beam_decode(model, ids, alpha=bad)
        with pytest.raises(ValueError, match="`alpha` must be a finite number >= 0"):
            exported_model.beam(ids, alpha=bad)
    for bad in (0, 17):  # the target position table has 16 positions
        with pytest.raises(ValueError, match=r"`max_length` must be an integer in \[1, 16\]"):
            decoding.greedy_decode(model, ids, max_length=bad)
        with pytest.raises(ValueError, match=r"`max_length` must be an integer in \[1, 16\]"):
            exported_model.greedy(ids, max_length=bad)


def test_a_beam_is_bounded_by_the_scores_one_step_holds():
    assert validation.check_beam_size(4, batch=64, vocabulary_size=65_001) == 4
    # 1,000 rows of 65,001 scores: 5 beams would be 3.3e8 scores a step, past the 2**28 bound.
    assert validation.check_beam_size(4, batch=1000, vocabulary_size=65_001) == 4
    with pytest.raises(ValueError, match=r"`beam_size` must be an integer in \[1, 4\] .*268,435,456 scores"):
        validation.check_beam_size(5, batch=1000, vocabulary_size=65_001)
    # Greedy too: 4,130 rows of 65,001 scores are past the bound whatever the beam.
    assert validation.check_beam_size(1, batch=4129, vocabulary_size=65_001) == 1
    with pytest.raises(ValueError, match="`source_ids` has 4,130 rows; at most 4,129 fit"):
        validation.check_beam_size(1, batch=4130, vocabulary_size=65_001)


def test_greedy_search_refuses_more_rows_than_a_step_can_score(exported):
    model, directory = exported
    rows = validation.MAX_SCORES_PER_STEP // model.target_vocabulary_size + 1
    too_many = np.full((rows, 1), 5, "int32")
    for greedy in (lambda ids: decoding.greedy_decode(model, ids), runtime.ExportedModel(directory).greedy):
        with pytest.raises(ValueError, match=f"`source_ids` has {rows:,d} rows.*decode in smaller batches"):
            greedy(too_many)


def test_an_export_whose_manifest_lacks_the_target_vocabulary_refuses_a_beam(exported, tmp_path):
    def drop(copy):
        manifest = json.loads((copy / "manifest.json").read_text())
        del manifest["runtime"]["target_vocabulary_size"]
        (copy / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(ValueError, match="does not record the target vocabulary"):
        runtime.ExportedModel(tampered_copy(exported, tmp_path, drop)).beam(np.array([[5, 6, 0]]))


def test_a_model_without_a_position_table_decodes_a_bounded_number_of_steps(exports):
    model, directory = exports["bahdanau"]
    ids = np.array([[5, 6, 0]])
    assert runtime.ExportedModel(directory).manifest["runtime"]["max_steps"] == validation.MAX_UNBOUNDED_STEPS
    for decode in (lambda: decoding.greedy_decode(model, ids, max_length=10**9),
                   lambda: runtime.ExportedModel(directory).greedy(ids, max_length=validation.MAX_UNBOUNDED_STEPS + 1)):
        with pytest.raises(ValueError, match=r"`max_length` must be an integer in \[1, 1024\]"):
            decode()


@hypothesis.settings(max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(
    dtype=st.sampled_from(["int32", "int64", "uint8", "float32", "bool"]),
    shape=st.one_of(st.tuples(st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 20)),
                    st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2))),
    low=st.integers(-3, 5),
    high=st.integers(1, 45),
    padding=st.integers(0, 4),
)
def test_every_call_returns_what_keras_gives_or_a_clear_error(exported, dtype, shape, low, high, padding):
    model, directory = exported
    exported_model = runtime.ExportedModel(directory, check_integrity=False)
    rng = np.random.default_rng(abs(hash((dtype, shape, low, high, padding))) % 2**32)
    ids = rng.integers(min(low, high - 1), max(high, low + 1), shape).astype(dtype)
    if ids.ndim == 2 and ids.shape[1] > padding:
        ids[:, ids.shape[1] - padding :] = 0
    outcomes = []
    for decode in (lambda x: decoding.greedy_decode(model, x, max_length=6),
                   lambda x: exported_model.greedy(x, max_length=6)):
        try:
            outcomes.append(decode(ids))
        except ValueError as error:
            outcomes.append(str(error))
    keras_result, runtime_result = outcomes
    if isinstance(keras_result, str):
        assert isinstance(runtime_result, str) and "`source_ids`" in keras_result, (keras_result, runtime_result)
        return
    assert not isinstance(runtime_result, str), runtime_result
    np.testing.assert_array_equal(runtime_result.tokens, keras_result.tokens)
    assert np.all(np.isfinite(runtime_result.attention)) and runtime_result.tokens.shape[0] == ids.shape[0]


def test_exports_follow_the_umask(exports):
    mask = os.umask(0)
    os.umask(mask)
    _, directory = exports["transformer"]
    assert os.stat(directory).st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private 0700


def test_an_export_of_an_older_layout_is_refused_with_one_line(exported, tmp_path, capsys):
    def as_layout_1(manifest):
        del manifest["format"]
        manifest["kind"] = manifest.pop("class")

    copy = tampered_copy(exported, tmp_path, rewrite_manifest(as_layout_1))
    assert cli.main(["verify", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "manifest format 1" in err and "export the model again" in err and len(err.splitlines()) == 1
    with pytest.raises(ValueError, match="export the model again"):
        runtime.ExportedModel(copy)
    fields = tampered_copy(exported, tmp_path / "b", rewrite_manifest(lambda manifest: manifest.pop("runtime")))
    with pytest.raises(ValueError, match="the top level: 'runtime' is a required property"):
        runtime.ExportedModel(fields)
