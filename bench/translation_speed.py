"""Translation speed on the CPU, on the same weights, in one run: the zoo's
compiled Keras search; its exports, as the whole search in one graph
(`greedy_search`, `beam_search`: one `run` call per batch) and as the prefill
and step pieces driven by the host loop of `keras_attn.runtime` (ONNX
Runtime and LiteRT, float32 and int8); and CTranslate2 (float32 and int8)
converted by its own converter from the zoo's Hugging Face export
(`export-huggingface`). Greedy and beam 4, at batch 1 and batch `--batch`.

Every engine runs in an interpreter of its own, at each `--threads` count,
on the same sources, so its peak resident memory (weights, runtime,
activations; Python and the imports it needs included) is its own and the
engines do not share a heap. The model is a preset with new weights
(`opus-mt-es-en`: the published model's shape) translating random sources,
or (`--run`) a Marian-shaped model trained here (`train opus-mt-es-en
--tokenization marian_sentencepiece`) translating its test split's
sentences, which also scores the engines with sacreBLEU against the
references (`--bleu N` sentences at batch `--batch`, at the largest thread
count; the run's data is read again, from `KERAS_ATTN_DATA` for a corpus). An engine's tokens are compared with the Keras search's and the
count reported: greedy float32 engines must give the same tokens; beam
search follows each engine's own length penalty and stopping rule
(CTranslate2's differ from the zoo's), int8 its own rounding. Tokens per
second count the generated tokens, `</s>` included.

    KERAS_BACKEND=tensorflow python bench/translation_speed.py [--preset opus-mt-es-en | --run DIR [--bleu 1000]] \
        [--sentences 12] [--batch 32] [--max-length 32] [--threads 1 2] [--set hidden_dim=256 ...] \
        [--engines NAME ...] [--work DIR [--reuse]] [--append BENCHMARKS.md]

The export needs TensorFlow; the Keras search runs under the backend the
bench is started with, so `KERAS_BACKEND=jax ... --work DIR --reuse` times
it under XLA on what a TensorFlow run prepared there (XLA uses every core
whatever `--threads` says).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WORDS = "la casa es azul el perro come pan en cocina dónde está estación de tren mi hermana vive hace frío hoy".split()
KERAS = "keras compiled search"
CT2_FLOAT = "ctranslate2 float32"
ENGINES = (KERAS, "onnx float32 in-graph search", "onnx int8 in-graph search", "tflite float32 in-graph search",
           "tflite int8 in-graph search", "onnx float32 host loop", "tflite float32 host loop", CT2_FLOAT,
           "ctranslate2 int8")
BEAM = 4


# The parent: the model, its exports and conversion, the sources; then one child per engine and thread count.

def marian_tokenizers(vocabulary_size):
    """A small SentencePiece model, and a vocabulary of `vocabulary_size` laid
    out as opus-mt's (`</s>` 0, `<unk>` 1, the pieces, fillers, `<pad>` last)."""
    import sentencepiece

    from keras_attn.tokenizers import MARIAN_SPECIAL_TOKENS, MarianSentencePieceTokenizer, Vocabulary

    model = io.BytesIO()
    sentences = [" ".join(np.random.default_rng(i).choice(WORDS, 8)) for i in range(200)]
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, vocab_size=80,
                                             hard_vocab_limit=False, unk_id=0, bos_id=-1, eos_id=-1, minloglevel=2)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [processor.id_to_piece(i) for i in range(1, processor.get_piece_size())]
    fillers = [f"▁w{i}" for i in range(vocabulary_size - 3 - len(pieces))]
    vocabulary = Vocabulary(["</s>", "<unk>"] + pieces + fillers + ["<pad>"], MARIAN_SPECIAL_TOKENS)
    tokenizer = MarianSentencePieceTokenizer(model.getvalue(), vocabulary)
    return {"source": tokenizer, "target": tokenizer}


def new_run(args, run, overrides, count):
    """`(tokenizers, sources, None)`: the preset with new weights saved as a
    run in `run` (its start row zero, as in every opus-mt model, and a
    random logits bias), and `count` random sources of 8–24 pieces plus `</s>`."""
    import keras

    from keras_attn import run_directory, zoo

    keras.utils.set_random_seed(args.seed)
    model = zoo.build(args.preset, **overrides)
    model.logits.bias.assign(np.random.default_rng(args.seed).normal(0, 0.1, model.logits.bias.shape)
                             .astype("float32"))
    tokenizers = marian_tokenizers(model.target_vocabulary_size)
    os.makedirs(run, exist_ok=True)
    model.save(run_directory.model_path(run))
    lengths = dict(zip(("max_source_length", "max_target_length"), model.position_limits()))
    run_directory.write_config(run, type(model), args.preset, tokenizers, model.current_settings(),
                               {"task": None, "tokenization": tokenizers["source"].name, "lengths": lengths})
    rng = np.random.default_rng(args.seed)
    vocabulary = tokenizers["source"].vocabulary
    sources = [rng.integers(2, vocabulary.pad_id, rng.integers(8, 25)).tolist() + [vocabulary.end_id]
               for _ in range(count)]
    return tokenizers, sources, None


def trained_run(run, count):
    """`(tokenizers, sources, references)`: `count` evenly spaced sentences of
    a trained run's test split (ids as the model reads them, padding cut)
    and their reference translations."""
    from keras_attn import run_directory
    from keras_attn.training.scoring import evenly_spaced

    _, task = run_directory.load_task(run)
    pad_id = task.source_vocabulary.pad_id
    source, _ = task.splits["test"]
    rows = evenly_spaced(len(source), count)
    sources = [[int(i) for i in source[row] if i != pad_id] for row in rows]
    return run_directory.load_tokenizers(run), sources, [task.examples["test"][row][1] for row in rows]


def prepare(args, work, overrides):
    """Writes the run (unless `--run`), its export (TFLite and ONNX, float32
    and int8, every piece), the Hugging Face directory and its CTranslate2
    conversion, and `work/inputs.json`: the sources, references and ids."""
    import ctranslate2

    from keras_attn import run_directory
    from keras_attn.checkpoints import huggingface_marian
    from keras_attn.export import exporter

    count = max(args.sentences, args.batch, args.bleu)
    run = args.run or os.path.join(work, "run")
    tokenizers, sources, references = trained_run(run, count) if args.run else new_run(args, run, overrides, count)
    huggingface_marian.export_checkpoint(run, os.path.join(work, "hf"), overwrite=True)
    ctranslate2.converters.TransformersConverter(os.path.join(work, "hf")).convert(os.path.join(work, "ct2"),
                                                                                  force=True)
    model = run_directory.load_model(run)
    start = time.perf_counter()
    exporter.export(model, os.path.join(work, "export"), formats=("tflite", "onnx"), quantize="int8",
                    overwrite=True)
    vocabulary = tokenizers["target"].vocabulary
    inputs = {"run": run, "sources": sources, "references": references, "tokens": vocabulary.tokens,
              "pad_id": model.pad_id, "end_id": model.end_id, "export_seconds": time.perf_counter() - start,
              "prepare_peak_rss_mb": peak_rss_mb()}
    with open(os.path.join(work, "inputs.json"), "w") as f:
        json.dump(inputs, f)


def peak_rss_mb():
    """This process's peak resident memory: the kernel's high-water mark of its
    memory map (`ru_maxrss` would carry the parent's over the fork and exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def workloads(args, inputs, threads):
    """The workloads of one child: `{name: {mode, batch, rows, warm_up}}`;
    the BLEU passes at the largest thread count only."""
    from keras_attn.training.scoring import evenly_spaced

    count = len(inputs["sources"])
    loads = {}
    for mode in ("greedy", f"beam {BEAM}"):
        for batch, rows in ((1, args.sentences), (args.batch, args.batch)):
            loads[f"{mode}, batch {batch}"] = {"mode": mode, "batch": batch, "warm_up": True,
                                               "rows": evenly_spaced(count, rows).tolist()}
        if args.bleu and threads == max(args.threads):
            loads[f"{mode}, BLEU"] = {"mode": mode, "batch": args.batch, "warm_up": False,
                                      "rows": evenly_spaced(count, args.bleu).tolist()}
    return loads


def run_child(script, work, engine, threads, loads, max_length):
    """Runs one engine in an interpreter of its own; its JSON result."""
    path = os.path.join(work, f"loads-{engine.replace(' ', '_')}-{threads}.json")
    with open(path, "w") as f:
        json.dump(loads, f)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, script, "--child", engine, str(threads), path, "--work", work,
                             "--max-length", str(max_length)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} ({threads} threads) failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def file_sizes(work):
    """Bytes each engine loads: the in-graph searches (greedy and beam), the
    host loop's prefill and step, CTranslate2's conversion (int8 is a
    `compute_type` of the same file)."""
    with open(os.path.join(work, "export", "manifest.json")) as f:
        manifest = json.load(f)
    sizes = {}
    for artifact in manifest["artifacts"]:
        kind = {"prefill": "host loop", "step": "host loop", "greedy_search": "in-graph search",
                "beam_search": "in-graph search"}.get(artifact["role"])
        if kind:
            key = f"{artifact['format']} {artifact['quantization']} {kind}"
            sizes[key] = sizes.get(key, 0) + artifact["size_bytes"]
    ct2 = os.path.join(work, "ct2")
    sizes[CT2_FLOAT] = sizes["ctranslate2 int8"] = sum(os.path.getsize(os.path.join(ct2, n)) for n in os.listdir(ct2))
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="opus-mt-es-en")
    parser.add_argument("--run", help="a trained Marian-shaped run directory instead of the preset with new weights")
    parser.add_argument("--bleu", type=int, default=0, help="with --run: test sentences every engine translates for BLEU")
    parser.add_argument("--sentences", type=int, default=12, help="sources translated one at a time")
    parser.add_argument("--batch", type=int, default=32, help="the larger batch (that many sources)")
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES),
                        help=f"the engines to run ({KERAS!r}, the reference of identical tokens, always runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=INT",
                        help="integer settings of the preset (a smaller Marian: hidden_dim=256 ...)")
    parser.add_argument("--work", help="where the run, the exports and the CTranslate2 model go (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: keep what an earlier run prepared there, and the engines' results of "
                        "the same workloads")
    parser.add_argument("--append")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "THREADS", "LOADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.work, args.child[0], int(args.child[1]), args.child[2], args.max_length)
    if args.bleu and not args.run:
        parser.error("--bleu needs --run: new weights have no reference translations.")
    if args.reuse and not args.work:
        parser.error("--reuse needs --work.")
    work = args.work or tempfile.mkdtemp(prefix="translation_speed_")
    overrides = {key: int(value) for key, value in (item.split("=", 1) for item in args.set)}
    if not (args.reuse and os.path.exists(os.path.join(work, "inputs.json"))):
        prepare(args, work, overrides)
    with open(os.path.join(work, "inputs.json")) as f:
        inputs = json.load(f)
    engines = [KERAS] + [name for name in args.engines if name != KERAS]
    results = {}
    for threads in args.threads:
        for engine in engines:
            loads = workloads(args, inputs, threads)
            saved = os.path.join(work, f"result-{engine.replace(' ', '_')}-{threads}.json")
            if args.reuse and os.path.exists(saved):
                with open(saved) as f:
                    results[engine, threads] = json.load(f)
                if set(results[engine, threads]["outputs"]) == set(loads):
                    continue
            results[engine, threads] = run_child(os.path.abspath(__file__), work, engine, threads, loads,
                                                 args.max_length)
            with open(saved, "w") as f:
                json.dump(results[engine, threads], f)
            print(f"{engine}, {threads} thread(s): peak {results[engine, threads]['peak_rss_mb']:.0f} MB", flush=True)
    write_reports(args, inputs, results, file_sizes(work), overrides)


def write_reports(args, inputs, results, sizes, overrides):
    import keras
    from common import report  # imports Keras: the parent's only, never a runtime engine's

    reference = results[KERAS, max(args.threads)]["outputs"]
    rows = []
    for load in workloads(args, inputs, min(args.threads)):
        for threads in args.threads:
            ct2 = results.get((CT2_FLOAT, threads))
            for (engine, engine_threads), result in results.items():
                if engine_threads != threads:
                    continue
                outputs, seconds = result["outputs"][load], result["seconds"][load]
                same = sum(a == b for a, b in zip(outputs, reference[load]))
                rate = sum(len(o) for o in outputs) / seconds
                versus = f"{rate / (sum(len(o) for o in ct2['outputs'][load]) / ct2['seconds'][load]):.2f}" if ct2 else ""
                size = f"{sizes[engine] / 1e6:.1f} MB" if engine in sizes else ""
                rows.append(f"| {load} | {threads} | {engine} | {same}/{len(outputs)} | {sum(len(o) for o in outputs)} "
                            f"| {rate:.0f} | {versus} | {result['peak_rss_mb']:.0f} MB | {size} |")
    model_name = f"the run {args.run}" if args.run else f"{args.preset} {overrides or ''} (new weights)"
    command = (f"KERAS_BACKEND={keras.backend.backend()} python bench/translation_speed.py "
               f"{f'--run {args.run} --bleu {args.bleu}' if args.run else f'--preset {args.preset}'}"
               f" --sentences {args.sentences} --batch {args.batch} --max-length {args.max_length} "
               f"--threads {' '.join(map(str, args.threads))}" + (f" --set {' '.join(args.set)}" if args.set else ""))
    what = "Test sentences" if args.run else "Random sources of 8–24 pieces plus `</s>`"
    report(
        f"Translation speed: {model_name}, the zoo's engines against CTranslate2", command,
        f"{what}: {args.sentences} one at a time, {args.batch} in one batch (right-padded); at most "
        f"{args.max_length} tokens; one timed pass after a warm-up pass. Each engine in an interpreter of its own "
        f"(peak RSS: that process's). Export (TFLite and ONNX, float32 and int8, every piece) took "
        f"{inputs['export_seconds']:.0f} s, peaking at {inputs['prepare_peak_rss_mb']:.0f} MB with the conversions. "
        "Files: what each engine loads (in-graph: the greedy and beam graphs; host loop: prefill and step; "
        "CTranslate2 int8 is a `compute_type` of the float32 conversion). × CT2 is to CTranslate2 float32 at the "
        "same threads.",
        "| workload | threads | engine | tokens identical to Keras | tokens | tokens/s | × CT2 float32 | peak RSS | files |",
        rows, args.append,
    )
    if args.bleu:
        report(f"Translation quality: {model_name}, every engine on {args.bleu} test sentences", command,
               *quality(args, inputs, results), args.append)


def quality(args, inputs, results):
    """`(details, header, rows)`: sacreBLEU (defaults, raw references) and
    chrF of each engine's BLEU workloads at the largest thread count."""
    from sacrebleu.metrics import BLEU, CHRF

    from keras_attn import run_directory

    tokenizer = run_directory.load_tokenizers(inputs["run"])["target"]
    threads = max(args.threads)
    bleu, chrf = BLEU(), CHRF()
    rows = []
    for mode in ("greedy", f"beam {BEAM}"):
        load = f"{mode}, BLEU"
        references = [inputs["references"][row] for row in workloads(args, inputs, threads)[load]["rows"]]
        keras_outputs = results[KERAS, threads]["outputs"][load]
        for (engine, engine_threads), result in results.items():
            if engine_threads != threads:
                continue
            outputs = result["outputs"][load]
            texts = [tokenizer.decode(row) for row in outputs]
            scores = bleu.corpus_score(texts, [references]), chrf.corpus_score(texts, [references])
            same = sum(a == b for a, b in zip(outputs, keras_outputs))
            rows.append(f"| {mode} | {engine} | {scores[0].score:.2f} | {scores[1].score:.2f} | {same}/{len(outputs)} | "
                        f"{result['seconds'][load]:.1f} |")
    details = (f"batches of {args.batch}, {threads} threads; BLEU `{bleu.get_signature()}`, chrF "
               f"`{chrf.get_signature()}`, against the raw references.")
    return details, "| search | engine | BLEU | chrF | outputs identical to Keras | seconds |", rows


# A child: one engine at one thread count, on the workloads the parent wrote.

def until_end(tokens, end_id):
    tokens = [int(t) for t in tokens]
    return tokens[: tokens.index(end_id) + 1] if end_id in tokens else tokens


def batches(sources, size, pad_id):
    """`sources` (lists of ids) in batches of `size`, right-padded with `pad_id`."""
    for start in range(0, len(sources), size):
        rows = sources[start : start + size]
        width = max(len(row) for row in rows)
        yield np.array([row + [pad_id] * (width - len(row)) for row in rows], "int32")


def open_engine(engine, threads, work, inputs, steps):
    """`{mode: translate(batch of ids) → token lists}` of one engine, loading
    only what it needs (the runtime engines never import Keras)."""
    end_id, pad_id = inputs["end_id"], inputs["pad_id"]

    def rows_of(result):
        return [until_end(row, end_id) for row in result.tokens]

    if engine == KERAS:
        import keras

        if keras.backend.backend() == "tensorflow":  # XLA's CPU threads have no such setting: every core
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        from keras_attn import run_directory

        model = run_directory.load_model(inputs["run"])
        return {"greedy": lambda s: rows_of(model.generate(s, max_length=steps)),
                f"beam {BEAM}": lambda s: rows_of(model.beam_generate(s, beam_size=BEAM, max_length=steps))}
    if engine.startswith("ctranslate2"):
        import ctranslate2

        translator = ctranslate2.Translator(os.path.join(work, "ct2"), device="cpu", compute_type=engine.split()[1],
                                            intra_threads=threads)
        tokens, ids = inputs["tokens"], {token: i for i, token in enumerate(inputs["tokens"])}

        def translate(batch, beam_size):
            rows = [[tokens[i] for i in row if i != pad_id] for row in batch]
            results = translator.translate_batch(rows, beam_size=beam_size, max_decoding_length=steps,
                                                 return_end_token=True, max_batch_size=len(rows))
            return [[ids[t] for t in result.hypotheses[0]] for result in results]

        return {"greedy": lambda s: translate(s, 1), f"beam {BEAM}": lambda s: translate(s, BEAM)}
    from keras_attn.runtime import ExportedModel

    fmt, quantization, *kind = engine.split()
    exported = ExportedModel(os.path.join(work, "export"), format=fmt, quantization=quantization,
                             host_loop=kind == ["host", "loop"], threads=threads)
    return {"greedy": lambda s: rows_of(exported.greedy(s, max_length=steps)),
            f"beam {BEAM}": lambda s: rows_of(exported.beam(s, beam_size=BEAM, max_length=steps))}


def child(work, engine, threads, loads_path, steps):
    with open(os.path.join(work, "inputs.json")) as f:
        inputs = json.load(f)
    with open(loads_path) as f:
        loads = json.load(f)
    modes = open_engine(engine, threads, work, inputs, steps)
    outputs, seconds = {}, {}
    for name, load in loads.items():
        translate, sources = modes[load["mode"]], [inputs["sources"][row] for row in load["rows"]]
        if load["warm_up"]:
            for batch in batches(sources[:2] if load["batch"] == 1 else sources, load["batch"], inputs["pad_id"]):
                translate(batch)
        outputs[name], start = [], time.perf_counter()
        for batch in batches(sources, load["batch"], inputs["pad_id"]):
            outputs[name].extend(translate(batch))
        seconds[name] = time.perf_counter() - start
    print("RESULT " + json.dumps({"outputs": outputs, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
