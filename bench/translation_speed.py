"""Greedy translation speed on the CPU, on the same weights, in one run: the
zoo's compiled Keras search, its exported prefill and step pieces driven by
the host loop of `keras_attn.runtime` (ONNX Runtime and LiteRT, float32 and
int8), and CTranslate2 (float32 and int8) converted by its own converter
from the zoo's Hugging Face export (`export-huggingface`).

The model is a preset with new weights (`opus-mt-es-en`: the published
model's shape), its padding row zero as in every opus-mt model (CTranslate2
reads the start token as a zero vector). Each engine translates the same
random sources one at a time; every engine's tokens must equal the Keras
search's before any time counts. Tokens per second count the generated
tokens, `</s>` included.

    KERAS_BACKEND=tensorflow python bench/translation_speed.py [--preset opus-mt-es-en] [--sentences 20] \
        [--max-length 48] [--threads 1 2] [--work DIR] [--append BENCHMARKS.md]
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


def new_model(preset, seed):
    keras.utils.set_random_seed(seed)
    model = zoo.build(preset)
    table = model.backbone.encoder_embedding.token_embedding.embeddings
    weights = np.asarray(table)
    weights[model.pad_id] = 0
    table.assign(weights)
    model.logits.bias.assign(np.random.default_rng(seed).normal(0, 0.1, model.logits.bias.shape).astype("float32"))
    return model


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(translate, sources):
    """`(tokens per source, seconds)` of translating each source alone."""
    outputs, start = [], time.perf_counter()
    for source in sources:
        outputs.append(translate(source))
    return outputs, time.perf_counter() - start


def until_end(tokens, end_id):
    tokens = [int(t) for t in tokens]
    return tokens[: tokens.index(end_id) + 1] if end_id in tokens else tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="opus-mt-es-en")
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="where the run, the exports and the CTranslate2 model go (default: a temporary folder)")
    parser.add_argument("--append")
    args = parser.parse_args()
    import ctranslate2

    work = args.work or tempfile.mkdtemp(prefix="translation_speed_")
    model = new_model(args.preset, args.seed)
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
    sources = [np.append(rng.integers(2, vocabulary.pad_id, rng.integers(8, 25)), vocabulary.end_id)[None].astype("int32")
               for _ in range(args.sentences)]
    steps = args.max_length
    engines = {"keras compiled search": lambda s: until_end(model.generate(s, max_length=steps).tokens[0], model.end_id)}
    for fmt in ("onnx", "tflite"):
        for quantization in ("float32", "int8"):
            exported = ExportedModel(export_dir, format=fmt, quantization=quantization)
            engines[f"{fmt} {quantization} host loop"] = (
                lambda s, e=exported: until_end(e.greedy(s, max_length=steps).tokens[0], model.end_id))
    tokens = vocabulary.tokens
    for compute_type in ("float32", "int8"):
        for threads in args.threads:
            translator = ctranslate2.Translator(os.path.join(work, "ct2"), device="cpu", compute_type=compute_type,
                                                intra_threads=threads)

            def translate(source, translator=translator):
                result = translator.translate_batch([[tokens[i] for i in source[0]]], beam_size=1,
                                                    max_decoding_length=steps, return_end_token=True)
                return [vocabulary.ids[t] for t in result[0].hypotheses[0]]

            engines[f"ctranslate2 {compute_type}, {threads} thread{'s' * (threads > 1)}"] = translate

    reference, _ = timed(engines["keras compiled search"], sources)  # also compiles the search
    rows, baseline = [], None
    sizes = {f"{a['format']} {a['quantization']}": 0 for a in manifest["artifacts"]}
    for artifact in manifest["artifacts"]:
        sizes[f"{artifact['format']} {artifact['quantization']}"] += artifact["size_bytes"]
    ct2_size = sum(os.path.getsize(os.path.join(work, "ct2", name)) for name in os.listdir(os.path.join(work, "ct2")))
    for name, translate in engines.items():
        outputs, _ = timed(translate, sources[:2])  # warm-up
        outputs, seconds = timed(translate, sources)
        same = sum(a == b for a, b in zip(outputs, reference))
        count = sum(len(o) for o in outputs)
        rate = count / seconds
        baseline = baseline or rate
        size = sizes.get(name.split(" host")[0]) or (ct2_size if name.startswith("ctranslate2 float32") else None)
        rows.append(f"| {name} | {same}/{len(sources)} | {count} | {rate:.0f} | {rate / baseline:.2f} | "
                    f"{'' if size is None else f'{size / 1e6:.0f} MB'} |")
    report(
        f"Greedy translation speed, batch 1: {args.preset} (new weights), zoo against CTranslate2",
        f"python bench/translation_speed.py --preset {args.preset} --sentences {args.sentences} "
        f"--max-length {args.max_length} --threads {' '.join(map(str, args.threads))}",
        f"{args.sentences} random sources of 8–24 pieces plus `</s>`, one at a time, at most {steps} tokens; "
        f"export (TFLite and ONNX, float32 and int8) took {export_seconds:.0f} s; peak RSS of the run "
        f"{peak_rss_mb():.0f} MB; the host loop pads nothing (dynamic lengths); CTranslate2 int8 is its "
        f"`compute_type` on the float32 conversion (one file).",
        "| engine | tokens identical to Keras | tokens | tokens/s | × Keras | files |",
        rows, args.append,
    )


if __name__ == "__main__":
    main()
