"""The `keras-attn` command line: list, describe, train, pretrain, fine-tune, export and verify zoo models.

    keras-attn list
    keras-attn describe transformer
    keras-attn train transformer --task dates --epochs 3 --out runs/transformer
    keras-attn pretrain bert-mini --data wikitext-2,sst2-text --out runs/bert-mini-mlm
    keras-attn finetune runs/bert-mini-mlm --data sst2 --out runs/bert-mini-sst2
    keras-attn import all-MiniLM-L6-v2 --out runs/minilm
    keras-attn export-huggingface runs/minilm-sst2 --out hf/minilm-sst2
    keras-attn export runs/transformer/model.keras --out exports/transformer --quantize int8
    keras-attn verify exports/transformer
"""

import argparse
import ast
import json
import os
import sys


def _parse_override(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string such as relu


def _add_data_dir(parser):
    parser.add_argument("--data-dir", help="folder laid out like shared/data (default: $KERAS_ATTN_DATA, else download)")


def _add_file_options(parser, vocabulary_size=True):
    parser.add_argument("--test-file", help="with --train-file: the test split (default: a seeded 80/10/10 split)")
    parser.add_argument("--tokenization",
                        choices=["sentencepiece", "marian_sentencepiece", "wordpiece", "words", "characters"],
                        help="with --train-file or --data spa-eng: how to tokenize it (default: sentencepiece for "
                        "translation, wordpiece for classification, which learns its vocabulary with "
                        "tensorflow-text; marian_sentencepiece: one vocabulary for both languages in Marian's "
                        "layout, for a model `export-huggingface` writes)")
    if vocabulary_size:
        parser.add_argument("--vocabulary-size", type=int, default=8000, help="with --train-file")
    parser.add_argument("--max-tokens", type=int, default=64, help="with --train-file: tokens per row")


def _minutes_as_seconds(text):
    minutes = float(text)
    if not minutes > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {text!r}")
    return minutes * 60


def _add_overrides(parser):
    parser.add_argument("--set", dest="overrides", type=_parse_override, action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")


def _add_fit_arguments(parser, epochs, learning_rate):
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=learning_rate)
    parser.add_argument("--time-limit", type=_minutes_as_seconds, metavar="MINUTES",
                        help="stop fitting after this many minutes (the interrupted epoch is validated and may be kept)")
    parser.add_argument("--fused-attention", action="store_true",
                        help="attention through keras.ops.dot_product_attention (cuDNN flash attention on a GPU)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_bfloat16: bfloat16 compute, float32 weights (GPU; needed for cuDNN flash attention)")
    parser.add_argument("--log-json", metavar="FILE",
                        help="write one JSON object per epoch (losses, metrics, seconds, examples per second) to FILE")
    parser.add_argument("--checkpoint-every", type=_non_negative_int, default=200, metavar="STEPS",
                        help="checkpoint the training state every STEPS batches and at each epoch's end "
                             "(0: at epoch ends only), so that --resume loses at most STEPS batches")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run into --out from its last checkpoint (the same arguments; "
                             "--epochs may grow, --time-limit is this run's)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (only once the run succeeds)")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _fit_options(args):
    """The arguments `_add_fit_arguments` adds, as the recipes take them."""
    return {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
            "overwrite": args.overwrite, "seed": args.seed, "time_limit": args.time_limit, "log_json": args.log_json,
            "resume": args.resume, "checkpoint_every": args.checkpoint_every}


class _Parser(argparse.ArgumentParser):
    """argparse, with a refused argument said in one line (as every other refusal) instead of the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser():
    parser = _Parser(prog="keras-attn", description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the zoo's presets")
    describe = commands.add_parser("describe", help="show a preset's configuration")
    describe.add_argument("name")
    train = commands.add_parser("train", help="train a preset on a built-in task or a corpus")
    train.add_argument("name")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--task", help="built-in task (default: the preset's own)")
    source.add_argument("--data", choices=["spa-eng", "sst2"], help="a real corpus (needs TensorFlow for tokenizing)")
    source.add_argument("--task-file", help="a tokenized task written by `keras-attn prepare` (no TensorFlow needed)")
    source.add_argument("--train-file", help="your own TSV: source<TAB>target pairs (translators) or text<TAB>label "
                        "rows (classifiers); labels may be names or integers")
    _add_data_dir(train)
    _add_file_options(train)
    train.add_argument("--examples", type=int, help="examples to use (default: 10000 for built-in tasks, all of a corpus)")
    train.add_argument("--beam", type=int, help="also evaluate with beam search of this width")
    train.add_argument("--eval-examples", type=int, help="evaluate on the first N test examples (default: all; 0: none)")
    train.add_argument("--distribute", action="store_true",
                       help="data-parallel over all local devices (JAX backend; batch size must divide evenly)")
    train.add_argument("--processes", type=_positive_int, default=1, metavar="N",
                       help="data-parallel over N processes on this machine (JAX backend; on several hosts, set "
                            "KERAS_DISTRIBUTION_* on each instead: see the README)")
    train.add_argument("--pretrain-epochs", type=int, default=1,
                       help="BERT: masked-LM epochs on the task's own sentences before fine-tuning")
    _add_fit_arguments(train, epochs=3, learning_rate=1e-3)
    _add_overrides(train)

    prepare = commands.add_parser(
        "prepare", help="tokenize a corpus into a .npz file (for training where there is no TensorFlow)"
    )
    what = prepare.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", choices=["spa-eng", "sst2"], help="a task file for `train --task-file`")
    what.add_argument("--train-file", help="your own TSV (see `train --train-file`); needs --task-type")
    what.add_argument("--pretraining", help="a masked-LM corpus for `pretrain --corpus-file`, from these "
                      "comma-separated texts: wikitext-2, sst2-text")
    _add_data_dir(prepare)
    prepare.add_argument("--examples", type=int, help="examples to use (default: all)")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--vocabulary-size", type=int, default=8000, help="--pretraining or --train-file: vocabulary size")
    prepare.add_argument("--max-length", type=int, default=64, help="--pretraining: word pieces per row, [CLS] included")
    prepare.add_argument("--vocabulary-from", help="--data sst2: tokenize with this prepared pretraining corpus's "
                         "vocabulary and row width (for `finetune --task-file`)")
    prepare.add_argument("--task-type", choices=["translation", "classification"], help="--train-file: what it holds")
    _add_file_options(prepare, vocabulary_size=False)
    prepare.add_argument("--out", required=True, help="the .npz file to write")

    pretrain = commands.add_parser("pretrain", help="masked-LM pretraining of a BERT preset on unlabeled text")
    pretrain.add_argument("name")
    pretrain.add_argument("--data", default="wikitext-2,sst2-text",
                          help="comma-separated texts: wikitext-2, sst2-text (SST-2 training sentences, labels unused)")
    _add_data_dir(pretrain)
    pretrain.add_argument("--corpus-file", help="a corpus written by `keras-attn prepare --pretraining` "
                          "(no TensorFlow needed; replaces --data and the tokenizer options)")
    pretrain.add_argument("--vocabulary-size", type=int, default=8000)
    pretrain.add_argument("--max-length", type=int, default=64, help="word pieces per row, [CLS] included")
    _add_fit_arguments(pretrain, epochs=3, learning_rate=1e-3)
    _add_overrides(pretrain)

    finetune = commands.add_parser("finetune", help="fine-tune a pretrained BERT directory on a classification corpus")
    finetune.add_argument("directory", help="a directory written by `keras-attn pretrain`")
    finetune.add_argument("--data", choices=["sst2"], default="sst2")
    finetune.add_argument("--task-file", help="a task written by `keras-attn prepare --data sst2 --vocabulary-from` "
                          "(no TensorFlow needed)")
    _add_data_dir(finetune)
    finetune.add_argument("--examples", type=int, help="training examples to use (default: all)")
    finetune.add_argument("--random-init", action="store_true",
                          help="same architecture, vocabulary and recipe from random weights (the baseline)")
    _add_fit_arguments(finetune, epochs=3, learning_rate=1e-4)

    evaluate = commands.add_parser("evaluate", help="score a model trained on a corpus on its test split")
    evaluate.add_argument("directory", help="a directory written by `keras-attn train` or `finetune`")
    _add_data_dir(evaluate)
    evaluate.add_argument("--eval-examples", type=int, help="score N evenly spaced test examples (default: all)")
    evaluate.add_argument("--beam", type=int, help="translators: beam width (default: greedy)")

    export = commands.add_parser("export", help="export a trained model to SavedModel, TFLite and ONNX")
    export.add_argument("model", help="a .keras file")
    export.add_argument("--out", required=True, help="export directory")
    export.add_argument("--formats", nargs="+", default=["saved_model", "tflite", "onnx"],
                        choices=["saved_model", "tflite", "onnx"])
    export.add_argument("--quantize", choices=["fp16", "int8"], help="add quantized artifacts")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    export.add_argument("--no-searches", dest="searches", action="store_false",
                        help="translators: only the prefill and step pieces, not the whole greedy and beam "
                             "searches as one graph each")
    export.add_argument("--max-source-length", type=int, help="fixed source length of bahdanau pieces")
    export.add_argument("--max-target-length", type=int, help="fixed target length of bahdanau pieces")

    imports = commands.add_parser("import", help="make a run directory of a Hugging Face BERT or Marian directory "
                                  "(BertModel, BertForMaskedLM, BertForSequenceClassification, MarianMTModel; "
                                  "safetensors only)")
    imports.add_argument("path", help="a directory with config.json, model.safetensors and the tokenizer")
    imports.add_argument("--out", required=True, help="the run directory to write")
    imports.add_argument("--sentences", help="a text file, one sentence a line, held out for `verify` "
                         "(default: eight built-in sentences, English for a BERT, Spanish for a Marian)")
    imports.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")

    export_hf = commands.add_parser("export-huggingface", help="write a run's BERT or Marian as a Hugging Face "
                                    "directory")
    export_hf.add_argument("directory", help="a run directory of an imported BERT or Marian (or one fine-tuned "
                           "from it)")
    export_hf.add_argument("--out", required=True, help="the directory to write")
    export_hf.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")

    translate = commands.add_parser("translate", help="translate text with a trained model directory")
    translate.add_argument("directory", help="a directory written by `keras-attn train`")
    translate.add_argument("text")
    translate.add_argument("--beam", type=int, help="beam width (default: greedy)")
    translate.add_argument("--plot", help="write the attention heatmap to this image file")

    verify = commands.add_parser("verify", help="check every exported artifact against Keras in its runtime")
    verify.add_argument("directory")
    verify.add_argument("--model", help="the .keras file (default: DIRECTORY/model.keras)")
    return parser


def _list():
    from keras_attn import zoo

    for name in zoo.names():
        print(f"{name:24s} {zoo.preset(name).description}")


def _describe(name):
    from keras_attn import zoo

    from keras_attn import models

    spec = zoo.preset(name)
    print(f"{name}: {spec.description}")
    print(f"class: {models.registered_name(spec.task_class)}; default task: {spec.default_task}")
    print(json.dumps(zoo.config(name), indent=2))


def _train(args, argv):
    import keras

    from keras_attn.training import distribution

    joined = distribution.started_as_process()
    if args.processes > 1 and not joined:
        if keras.backend.backend() != "jax":
            raise ValueError("--processes runs on the JAX backend: set KERAS_BACKEND=jax.")
        from keras_attn.training.processes import run_on_this_machine

        print(f"training over {args.processes} processes on this machine")
        return run_on_this_machine(argv, args.processes)
    # Processes join before any computation; then every one builds the same model.
    index, count = distribution.initialize_processes() if joined else (0, 1)
    if args.processes > 1 and count != args.processes:
        raise ValueError(f"--processes {args.processes} does not match KERAS_DISTRIBUTION_NUM_PROCESSES ({count}).")
    if args.distribute or count > 1:
        devices = distribution.distribute_over_devices()
        if index == 0:
            print(f"data-parallel over {devices} devices" + (f" of {count} processes" if count > 1 else ""))
    from keras_attn import models, training, zoo
    from keras_attn.data import tasks

    spec = zoo.preset(args.name)
    if args.examples is not None and args.examples <= 0:
        raise ValueError(f"--examples must be positive, got {args.examples}.")
    if args.data:
        from keras_attn.data import corpora

        task = corpora.load(args.data, args.data_dir, num_examples=args.examples, seed=args.seed,
                            tokenization=args.tokenization)
    elif args.task_file:
        task = tasks.load_file(args.task_file)
    elif args.train_file:
        task = _file_task(args, spec.task_class.task_type)
    else:
        task = tasks.load(args.task or spec.default_task, num_examples=args.examples or 10000, seed=args.seed)
    model, report = training.train(
        args.name,
        task,
        args.out,
        overrides=dict(args.overrides),
        pretrain_epochs=args.pretrain_epochs,
        beam_size=args.beam,
        eval_limit=args.eval_examples,
        **_fit_options(args),
    )
    if index:  # process 0 reports
        return
    if isinstance(model, models.GenerativeTask):
        _show_translations(model, task)
    scores = {k: v for k, v in report.items() if k.startswith("test_")}
    print(f"{args.name} on {task.name}: {scores}; saved to {os.path.join(args.out, 'model.keras')}")


def _prepare(args):
    from keras_attn.data import corpora, masked_lm, tasks
    from keras_attn.tokenizers import WordPieceTokenizer

    if args.vocabulary_from and args.data != "sst2":
        raise ValueError("--vocabulary-from applies to --data sst2 (the fine-tuning task of a pretraining corpus).")
    if args.train_file:
        if not args.task_type:
            raise ValueError("--train-file needs --task-type translation or classification.")
        task = _file_task(args, args.task_type)
        tasks.save(task, args.out)
        print(f"{task.name}: {_split_sizes(task)}; wrote {args.out}")
        return
    if args.pretraining:
        names = _text_names(args.pretraining)
        vocabulary, train_ids, validation_ids = corpora.pretraining_corpus(
            names, args.data_dir, vocabulary_size=args.vocabulary_size, max_length=args.max_length, seed=args.seed
        )
        masked_lm.save_corpus(args.out, vocabulary, train_ids, validation_ids, names)
        print(f"{'+'.join(names)}: {len(train_ids):,d} training rows, {len(validation_ids):,d} validation rows, "
              f"vocabulary {len(vocabulary):,d}; wrote {args.out}")
        return
    tokenizer_of = max_length = None
    if args.vocabulary_from:
        vocabulary, train_ids, _, _ = masked_lm.load_corpus(args.vocabulary_from)
        tokenizer_of, max_length = {"source": WordPieceTokenizer(vocabulary)}, train_ids.shape[1]
    task = corpora.load(args.data, args.data_dir, num_examples=args.examples, seed=args.seed,
                        tokenizer_of=tokenizer_of, max_length=max_length, tokenization=args.tokenization)
    tasks.save(task, args.out)
    print(f"{task.name}: {_split_sizes(task)}; wrote {args.out}")


def _split_sizes(task):
    return ", ".join(f"{split} {len(targets):,d}" for split, (_, targets) in task.splits.items())


def _file_task(args, task_type):
    from keras_attn.data import corpora

    return corpora.from_files(task_type, args.train_file, args.test_file, args.tokenization,
                              getattr(args, "vocabulary_size", 8000), args.max_tokens, args.seed)


def _text_names(argument):
    return [name.strip() for name in argument.split(",") if name.strip()]


def _pretrain(args):
    from keras_attn import training
    from keras_attn.data import masked_lm

    if args.corpus_file:
        vocabulary, train_ids, validation_ids, names = masked_lm.load_corpus(args.corpus_file)
    else:
        from keras_attn.data import corpora

        names = _text_names(args.data)
        vocabulary, train_ids, validation_ids = corpora.pretraining_corpus(
            names, args.data_dir, vocabulary_size=args.vocabulary_size, max_length=args.max_length, seed=args.seed
        )
    print(f"{len(train_ids):,d} rows ({int((train_ids != 0).sum()):,d} word pieces), vocabulary {len(vocabulary):,d}")
    _, report = training.pretrain(
        args.name, train_ids, validation_ids, vocabulary, args.out, data_names=names, overrides=dict(args.overrides),
        **_fit_options(args),
    )
    history = report["history"]
    print(f"masked-LM validation loss {history['val_loss'][-1]:.3f}, accuracy {history['val_masked_accuracy'][-1]:.3f}; "
          f"saved to {args.out}")


def _finetune(args):
    from keras_attn import run_directory, training
    from keras_attn.data import tasks

    max_length = run_directory.read_config(args.directory)["lengths"]["max_length"]
    if args.task_file:
        task = tasks.load_file(args.task_file)  # `finetune` checks its vocabulary and width
    else:
        from keras_attn.data import corpora

        task = corpora.sst2(
            args.data_dir, max_length=max_length, num_examples=args.examples, seed=args.seed,
            tokenizer=training.recipes.pretrained_tokenizer(args.directory),
        )
    _, report = training.finetune(
        args.directory, task, args.out, random_init=args.random_init, **_fit_options(args),
    )
    start = "random initialisation" if args.random_init else f"pretrained {args.directory}"
    print(f"{task.name} from {start}: test accuracy {report['test_accuracy']:.4f}; saved to {args.out}")


def _evaluate(args):
    from keras_attn import run_directory, training

    _, task = run_directory.load_task(args.directory, args.data_dir)
    model = run_directory.load_model(args.directory)
    scores = training.evaluate(model, task, "test", limit=args.eval_examples, beam_size=args.beam)
    print(json.dumps(scores))


def _export(args):
    from keras_attn import run_directory
    from keras_attn.export import export
    from keras_attn.saving import load_model

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"No model file at {args.model}.")
    folder = os.path.dirname(os.path.abspath(args.model))
    # A model that `train` saved has its run files (lengths, tokenization, vocabularies) beside it.
    config = run_directory.read_config(folder) if run_directory.has_config(folder) else {}
    lengths = dict(config.get("lengths", {}))
    for name in ("max_source_length", "max_target_length"):
        if getattr(args, name):
            lengths[name] = getattr(args, name)
    tokenizers = run_directory.load_tokenizers(folder, config) if config else None
    assets = {run_directory.MODEL: args.model, **run_directory.asset_files(folder)}
    manifest = export(
        load_model(args.model, compile=False),
        args.out,
        formats=args.formats,
        quantize=args.quantize,
        searches=args.searches,
        overwrite=args.overwrite,
        lengths=lengths,
        assets=assets,
        tokenizers=tokenizers if "saved_model" in args.formats else None,
    )
    for artifact in manifest["artifacts"]:
        print(f"{artifact['path']:36s} {artifact['format']:12s} {artifact['quantization']:8s} {artifact['size_bytes']:>12,d} bytes")
    print(f"wrote {len(manifest['artifacts'])} artifacts and manifest.json to {args.out}")


def _verify(args):
    from keras_attn import integrity, run_directory
    from keras_attn.export.parity import format_table, verify
    from keras_attn.saving import load_model

    integrity.read_manifest(args.directory)  # a missing or broken manifest is reported first
    model_path = args.model or run_directory.model_path(args.directory)
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"No model file at {model_path}; pass --model.")
    report = verify(args.directory, load_model(model_path, compile=False))
    print(format_table(report))
    return 0 if report["passed"] else 1


def _import(args):
    from keras_attn import checkpoints

    module = checkpoints.module_for(args.path)
    sentences = module.SENTENCES
    if args.sentences:
        with open(args.sentences, encoding="utf-8") as f:
            sentences = f.read().splitlines()
    model, _ = module.import_checkpoint(args.path, args.out, overwrite=args.overwrite, sentences=sentences)
    print(f"imported a {type(model).__name__} ({model.count_params():,} parameters) to {args.out}")


def _export_huggingface(args):
    from keras_attn import checkpoints

    model = checkpoints.module_of_run(args.directory).export_checkpoint(args.directory, args.out,
                                                                       overwrite=args.overwrite)
    print(f"wrote the {type(model).__name__} of {args.directory} as a Hugging Face directory to {args.out}")


def _translate(args):
    from keras_attn.inference.translation import Translator, plot_attention

    translation = Translator(args.directory).translate(args.text, beam_size=args.beam)
    if translation.source_length > len(translation.source_tokens):
        print(f"keras-attn: warning: the input has {translation.source_length} tokens; the model read the first "
              f"{len(translation.source_tokens)}", file=sys.stderr)
    print(translation.text)
    if args.plot:
        plot_attention(args.plot, translation.source_tokens, translation.output_tokens, translation.attention)
        print(f"attention plot: {args.plot}")


def _show_translations(model, task, count=5):
    source, target = task.splits["test"]
    result = model.generate(source[:count], max_length=target.shape[1] - 1)
    for (text, expected), tokens in zip(task.examples["test"], result.tokens):
        predicted = task.target_text(tokens)
        print(f"  {text!r:40s} → {predicted!r}  (expected {expected!r})")


def _quiet_tensorflow():
    """Imports TensorFlow (where it is installed) with its load-time log lines
    muted (`keras_attn.quiet`); later log lines stay off too."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    from keras_attn.quiet import native_stderr_muted

    with native_stderr_muted():
        try:
            import tensorflow
        except ImportError:
            return  # a machine without TensorFlow (the JAX-only GPU machine)
    # Length-bucketed batches retrace the training step once per batch width, by design.
    tensorflow.get_logger().setLevel("ERROR")


# Commands that load TensorFlow whatever the Keras backend.
_TENSORFLOW_COMMANDS = ("export", "verify", "prepare")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if not args.verbose and (args.command in _TENSORFLOW_COMMANDS or os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"):
        _quiet_tensorflow()
    from keras_attn import progress

    progress.enable()
    if getattr(args, "fused_attention", False):
        from keras_attn.layers import set_fused_attention

        set_fused_attention(True)
    if getattr(args, "mixed_precision", False):
        import keras

        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    commands = {
        "list": lambda: _list(),
        "describe": lambda: _describe(args.name),
        "train": lambda: _train(args, argv),
        "prepare": lambda: _prepare(args),
        "pretrain": lambda: _pretrain(args),
        "finetune": lambda: _finetune(args),
        "evaluate": lambda: _evaluate(args),
        "export": lambda: _export(args),
        "import": lambda: _import(args),
        "export-huggingface": lambda: _export_huggingface(args),
        "translate": lambda: _translate(args),
        "verify": lambda: _verify(args),
    }
    try:
        return commands[args.command]() or 0  # only `verify` returns a status (1: a check failed)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"keras-attn: error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 2
    except Exception:  # a bug, not a bad input or a failed check
        import traceback

        traceback.print_exc()
        print("keras-attn: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
