"""Translation speed on the CPU, on the same weights, in one run: the zoo's
compiled Keras search; its exports, as the whole search in one graph
(`greedy_search`, `beam_search`: one `run` call per batch) and as the prefill
and step pieces driven by the host loop of `keras_attn.runtime` (ONNX
Runtime and LiteRT, float32 and int8); and CTranslate2 (float32 and int8)
converted by its own converter from the zoo's Hugging Face export
(`export-huggingface`). Greedy and beam 4, at batch 1 and batch `--batch`.

The model is a preset with new weights (`opus-mt-es-en`: the published
model's shape), its padding row zero as in every opus-mt model (CTranslate2
reads the start token as a zero vector). Every engine translates the same
random sources; in greedy decoding its tokens must equal the Keras search's
(they are counted and reported: beam search follows each engine's own
length penalty and stopping rule, CTranslate2's differ from the zoo's).
Tokens per second count the generated tokens, `</s>` included.

    KERAS_BACKEND=tensorflow python bench/translation_speed.py [--preset opus-mt-es-en] [--sentences 12] \
        [--batch 32] [--max-length 32] [--threads 1 2] [--set hidden_dim=256 ...] [--work DIR] [--append BENCHMARKS.md]
"""

import argparse
import io
import os
import resource
import tempfile
import time

import keras
import numpy as np

from keras_attn import run_directory, zoo
from keras_attn.checkpoints import huggingface_marian
from keras_attn.export import exporter
from keras_attn.runtime import ExportedModel
from keras_attn.tokenizers import MARIAN_SPECIAL_TOKENS, MarianSentencePieceTokenizer, Vocabulary

from common import report

WORDS = "la casa es azul el perro come pan en cocina dónde está estación de tren mi hermana vive hace frío hoy".split()


def marian_tokenizers(vocabulary_size):
    """A small SentencePiece model, and a vocabulary of `vocabulary_size` laid
    out as opus-mt's (`</s>` 0, `<unk>` 1, the pieces, fillers, `<pad>` last)."""
    import sentencepiece

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


def new_model(preset, seed, overrides):
    keras.utils.set_random_seed(seed)
    model = zoo.build(preset, **overrides)
    table = model.backbone.encoder_embedding.token_embedding.embeddings
    weights = np.asarray(table)
    weights[model.pad_id] = 0
    table.assign(weights)
    model.logits.bias.assign(np.random.default_rng(seed).normal(0, 0.1, model.logits.bias.shape).astype("float32"))
    return model


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def until_end(tokens, end_id):
    tokens = [int(t) for t in tokens]
    return tokens[: tokens.index(end_id) + 1] if end_id in tokens else tokens


def batches(sources, size, pad_id):
    """`sources` (lists of ids) in batches of `size`, right-padded with `pad_id`."""
    for start in range(0, len(sources), size):
        rows = sources[start : start + size]
        width = max(len(row) for row in rows)
        yield np.array([row + [pad_id] * (width - len(row)) for row in rows], "int32")


def timed(translate, sources, size, pad_id):
    """`(tokens of each source, seconds)` translating `sources` in batches of `size`."""
    outputs, start = [], time.perf_counter()
    for batch in batches(sources, size, pad_id):
        outputs.extend(translate(batch))
    return outputs, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="opus-mt-es-en")
    parser.add_argument("--sentences", type=int, default=12, help="sources translated one at a time")
    parser.add_argument("--batch", type=int, default=32, help="the larger batch (that many sources)")
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=INT",
                        help="integer settings of the preset (a smaller Marian: hidden_dim=256 ...)")
    parser.add_argument("--work", help="where the run, the exports and the CTranslate2 model go (default: a temporary folder)")
    parser.add_argument("--append")
    args = parser.parse_args()
    import ctranslate2

    work = args.work or tempfile.mkdtemp(prefix="translation_speed_")
    overrides = {key: int(value) for key, value in (item.split("=", 1) for item in args.set)}
    model = new_model(args.preset, args.seed, overrides)
    tokenizers = marian_tokenizers(model.target_vocabulary_size)
    run = os.path.join(work, "run")
    os.makedirs(run, exist_ok=True)
    model.save(run_directory.model_path(run))
    lengths = dict(zip(("max_source_length", "max_target_length"), model.position_limits()))
    run_directory.write_config(run, type(model), args.preset, tokenizers, model.current_settings(),
                               {"task": None, "tokenization": tokenizers["source"].name, "lengths": lengths})
    huggingface_marian.export_checkpoint(run, os.path.join(work, "hf"), overwrite=True)
    ctranslate2.converters.TransformersConverter(os.path.join(work, "hf")).convert(os.path.join(work, "ct2"),
                                                                                  force=True)
    export_dir = os.path.join(work, "export")
    start = time.perf_counter()
    manifest = exporter.export(model, export_dir, formats=("tflite", "onnx"), quantize="int8", overwrite=True)
    export_seconds = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    vocabulary = tokenizers["source"].vocabulary
    sources = [rng.integers(2, vocabulary.pad_id, rng.integers(8, 25)).tolist() + [vocabulary.end_id]
               for _ in range(max(args.sentences, args.batch))]
    steps, end_id, pad_id, beam = args.max_length, model.end_id, model.pad_id, 4

    def rows_of(result):
        return [until_end(row, end_id) for row in result.tokens]

    def zoo_engine(generate):
        return {"greedy": lambda s: rows_of(generate(s, max_length=steps)),
                "beam 4": lambda s: rows_of(generate(s, max_length=steps, beam_size=beam))}

    engines = {"keras compiled search": zoo_engine(
        lambda s, max_length, beam_size=None: model.beam_generate(s, beam_size=beam_size, max_length=max_length)
        if beam_size else model.generate(s, max_length=max_length))}
    for fmt in ("onnx", "tflite"):
        for quantization, host_loop in (("float32", False), ("int8", False), ("float32", True)):
            exported = ExportedModel(export_dir, format=fmt, quantization=quantization, host_loop=host_loop)
            engines[f"{fmt} {quantization} {'host loop' if host_loop else 'in-graph search'}"] = zoo_engine(
                lambda s, max_length, beam_size=None, e=exported: e.beam(s, beam_size=beam_size, max_length=max_length)
                if beam_size else e.greedy(s, max_length=max_length))
    tokens = vocabulary.tokens
    for compute_type in ("float32", "int8"):
        for threads in args.threads:
            translator = ctranslate2.Translator(os.path.join(work, "ct2"), device="cpu", compute_type=compute_type,
                                                intra_threads=threads)

            def translate(batch, beam_size, translator=translator):
                rows = [[tokens[i] for i in row if i != pad_id] for row in batch]
                results = translator.translate_batch(rows, beam_size=beam_size, max_decoding_length=steps,
                                                     return_end_token=True, max_batch_size=len(rows))
                return [[vocabulary.ids[t] for t in result.hypotheses[0]] for result in results]

            engines[f"ctranslate2 {compute_type}, {threads} thread{'s' * (threads > 1)}"] = {
                "greedy": lambda s, t=translate: t(s, 1), "beam 4": lambda s, t=translate: t(s, beam)}

    sizes = {}
    for artifact in manifest["artifacts"]:
        kind = "host loop" if artifact["role"] in ("prefill", "step") else "in-graph search"
        key = f"{artifact['format']} {artifact['quantization']} {kind}"
        sizes[key] = sizes.get(key, 0) + artifact["size_bytes"] * (artifact["role"] not in ("forward",))
    ct2_size = sum(os.path.getsize(os.path.join(work, "ct2", name)) for name in os.listdir(os.path.join(work, "ct2")))
    rows = []
    for mode, size, count in (("greedy", 1, args.sentences), ("greedy", args.batch, args.batch),
                              ("beam 4", 1, args.sentences), ("beam 4", args.batch, args.batch)):
        chosen = sources[:count]
        reference, _ = timed(engines["keras compiled search"][mode], chosen, size, pad_id)  # also compiles
        baseline = None
        for name, modes in engines.items():
            timed(modes[mode], chosen[: min(2, size)] if size == 1 else chosen, size, pad_id)  # warm-up
            outputs, seconds = timed(modes[mode], chosen, size, pad_id)
            same = sum(a == b for a, b in zip(outputs, reference))
            generated = sum(len(o) for o in outputs)
            rate = generated / seconds
            baseline = baseline or rate
            files = sizes.get(name) or (ct2_size if name.startswith("ctranslate2 float32") else None)
            rows.append(f"| {mode} | {size} | {name} | {same}/{count} | {generated} | {rate:.0f} | "
                        f"{rate / baseline:.2f} | {'' if files is None else f'{files / 1e6:.0f} MB'} |")
            print(rows[-1], flush=True)
    report(
        f"Translation speed: {args.preset} {overrides or ''} (new weights), the zoo's engines against CTranslate2",
        f"python bench/translation_speed.py --preset {args.preset} --sentences {args.sentences} --batch {args.batch} "
        f"--max-length {args.max_length} --threads {' '.join(map(str, args.threads))}"
        + (f" --set {' '.join(args.set)}" if args.set else ""),
        f"Random sources of 8–24 pieces plus `</s>`: {args.sentences} one at a time, {args.batch} in one batch "
        f"(right-padded); at most {steps} tokens. Export (TFLite and ONNX, float32 and int8, every piece) took "
        f"{export_seconds:.0f} s; peak RSS of the run {peak_rss_mb():.0f} MB. Files: the pieces each engine "
        "loads (the in-graph searches: greedy and beam; the host loop: prefill and step); CTranslate2 int8 is its "
        "`compute_type` on the float32 conversion (one file). × is to the Keras search in the same mode.",
        "| search | batch | engine | tokens identical to Keras | tokens | tokens/s | × Keras | files |",
        rows, args.append,
    )


if __name__ == "__main__":
    main()
