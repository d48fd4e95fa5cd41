"""A fuzz pass (hypothesis) over what a user hands keras-attn: the command
line's arguments, an export's `manifest.json` and a run's `config.json`
with any field removed or given another JSON type. The rule: every run
ends in exit 0, 1 or 2 with one line of error (never a traceback, never
exit 3), and a run that succeeds gives what the untouched files give."""

import copy
import json
import shutil

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from keras_attn import cli, runtime

pytestmark = pytest.mark.tensorflow

FUZZ = hypothesis.settings(max_examples=40, deadline=None, derandomize=True,
                           suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture,
                                                  hypothesis.HealthCheck.too_slow])
# A value of each JSON type; an edit puts one of another type than the field's.
OTHER_VALUES = [None, "text", -1, 2**40, 1.5, True, [], {}]


def field_paths(value, prefix=()):
    """The path (keys and indices) of every field inside a JSON value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from field_paths(child, prefix + (key,))


def json_type(value):
    return "null" if value is None else type(value).__name__


def draw_edit(data, document):
    """`(description, edited copy)`: one field of `document` removed or retyped."""
    path = data.draw(st.sampled_from(list(field_paths(document))))
    edited = copy.deepcopy(document)
    parent = edited
    for key in path[:-1]:
        parent = parent[key]
    replacement = data.draw(st.sampled_from(["remove"] + [v for v in OTHER_VALUES
                                                          if json_type(v) != json_type(parent[path[-1]])]))
    if replacement == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return f"{'/'.join(map(str, path))} -> {replacement!r}", edited


def run_cli(argv, capsys):
    """`(exit code, captured output)` of the command line; an exit 2 says why in one line."""
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    captured = capsys.readouterr()
    assert code in (0, 1, 2), captured.err
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1, captured.err
    return code, captured


def export_copy(exports, tmp_path_factory, name):
    """A copy of a shared export, and its manifest; the examples rewrite the copy's manifest."""
    directory = tmp_path_factory.mktemp("fuzz") / name
    shutil.copytree(exports[name][1], directory)
    return directory, json.loads((directory / "manifest.json").read_text())


@pytest.fixture(scope="module")
def translator_export(exports, tmp_path_factory):
    return export_copy(exports, tmp_path_factory, "transformer")


@pytest.fixture(scope="module")
def classifier_export(exports, tmp_path_factory):
    return export_copy(exports, tmp_path_factory, "transformer-classifier")


@FUZZ
@hypothesis.given(data=st.data())
def test_the_runtime_refuses_an_edited_manifest_in_one_line_or_decodes_as_before(translator_export, data):
    directory, manifest = translator_export
    ids = np.array([[5, 9, 7, 0], [8, 6, 0, 0]])
    host_loop = data.draw(st.booleans())
    (directory / "manifest.json").write_text(json.dumps(manifest))
    expected = runtime.ExportedModel(directory, host_loop=host_loop).greedy(ids, max_length=4).tokens
    edit, edited = draw_edit(data, manifest)
    (directory / "manifest.json").write_text(json.dumps(edited))
    try:
        tokens = runtime.ExportedModel(directory, host_loop=host_loop).greedy(ids, max_length=4).tokens
    except ValueError as error:
        assert len(str(error).splitlines()) == 1, (edit, error)
    else:
        assert np.array_equal(tokens, expected), edit


@hypothesis.settings(FUZZ, max_examples=15)
@hypothesis.given(data=st.data())
def test_verify_fails_or_refuses_an_edited_manifest_and_passes_only_what_runs_as_before(classifier_export, capsys,
                                                                                         data):
    directory, manifest = classifier_export
    ids = np.array([[1, 9, 7, 0], [1, 6, 0, 0]])
    (directory / "manifest.json").write_text(json.dumps(manifest))
    expected = runtime.ExportedModel(directory).classify(ids)
    edit, edited = draw_edit(data, manifest)
    (directory / "manifest.json").write_text(json.dumps(edited))
    code, _ = run_cli(["verify", str(directory)], capsys)
    if code == 0:
        np.testing.assert_array_equal(runtime.ExportedModel(directory).classify(ids), expected, err_msg=edit)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    assert cli.main(["train", "transformer", "--examples", "100", "--epochs", "1", "--set", "num_layers=1",
                     "--set", "hidden_dim=16", "--set", "num_heads=2", "--set", "intermediate_dim=16",
                     "--out", str(out)]) == 0
    return out


# Sizes as a user may type them: small, huge, negative, not numbers.
SIZES = st.one_of(st.integers(-3, 6), st.sampled_from([2**31, 10**12, -(2**63)]), st.text(max_size=4))


def valid(value, low):
    return isinstance(value, int) and low <= value <= 6


@hypothesis.settings(FUZZ, max_examples=30)
@hypothesis.given(text=st.text(max_size=40), beam=st.one_of(st.none(), SIZES))
def test_translate_with_any_text_and_beam_translates_or_refuses_in_one_line(run, capsys, text, beam):
    code, _ = run_cli(["translate", str(run), *(["--beam", str(beam)] if beam is not None else []), "--", text], capsys)
    if beam is None or valid(beam, 1):
        assert code == 0  # any text, and any beam the model can take, is translated


@hypothesis.settings(FUZZ, max_examples=20)
@hypothesis.given(examples=st.one_of(st.none(), SIZES), beam=st.one_of(st.none(), SIZES))
def test_evaluate_with_any_sizes_scores_or_refuses_in_one_line(run, capsys, examples, beam):
    argv = ["evaluate", str(run)]
    argv += ["--eval-examples", str(examples)] if examples is not None else []
    argv += ["--beam", str(beam)] if beam is not None else []
    code, captured = run_cli(argv, capsys)
    if (examples is None or valid(examples, 1)) and (beam is None or valid(beam, 1)):
        assert code == 0 and "test_" in captured.out


@hypothesis.settings(FUZZ, max_examples=15)
@hypothesis.given(data=st.data())
def test_commands_refuse_an_edited_run_config_in_one_line_or_run_as_before(run, tmp_path_factory, capsys, data):
    expected = run_cli(["translate", str(run), "9 may 2018"], capsys)[1].out
    edit, edited = draw_edit(data, json.loads((run / "config.json").read_text()))
    directory = tmp_path_factory.mktemp("edited") / "run"
    shutil.copytree(run, directory)
    (directory / "config.json").write_text(json.dumps(edited))
    code, captured = run_cli(["translate", str(directory), "9 may 2018"], capsys)
    if code == 0:
        assert captured.out == expected, edit
    run_cli(["evaluate", str(directory), "--eval-examples", "4"], capsys)
