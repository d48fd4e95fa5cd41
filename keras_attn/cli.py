"""The `keras-attn` command line: list, describe and train zoo models.

    keras-attn list
    keras-attn describe transformer
    keras-attn train transformer --task dates --epochs 3 --out runs/transformer
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


def _parser():
    parser = argparse.ArgumentParser(prog="keras-attn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the zoo's presets")
    describe = commands.add_parser("describe", help="show a preset's configuration")
    describe.add_argument("name")
    train = commands.add_parser("train", help="train a preset on a built-in task")
    train.add_argument("name")
    train.add_argument("--task", help="built-in task (default: the preset's own)")
    train.add_argument("--examples", type=int, default=10000, help="examples generated for the task")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--pretrain-epochs", type=int, default=1, help="masked-LM epochs before fine-tuning (BERT)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--set", dest="overrides", type=_parse_override, action="append", default=[],
                       metavar="KEY=VALUE", help="override a config value (repeatable)")
    train.add_argument("--out", required=True, help="output directory")
    return parser


def _list():
    from keras_attn import zoo

    for name in zoo.names():
        print(f"{name:24s} {zoo.preset(name).description}")


def _describe(name):
    from keras_attn import zoo

    spec = zoo.preset(name)
    print(f"{name}: {spec.description}")
    print(f"family: {spec.family}; default task: {spec.default_task}")
    print(json.dumps(zoo.config(name), indent=2))


def _train(args):
    from keras_attn import tasks, training, zoo

    spec = zoo.preset(args.name)
    task = tasks.load(args.task or spec.default_task, num_examples=args.examples, seed=args.seed)
    model, report = training.train(
        args.name,
        task,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        overrides=dict(args.overrides),
        pretrain_epochs=args.pretrain_epochs,
    )
    if spec.family == "seq2seq":
        _show_translations(model, task)
    scores = {k: v for k, v in report.items() if k.startswith("test_")}
    print(f"{args.name} on {task.name}: {scores}; saved to {os.path.join(args.out, 'model.keras')}")


def _show_translations(model, task, count=5):
    from keras_attn import decoding

    source, target = task.splits["test"]
    result = decoding.greedy_decode(model, source[:count], max_length=target.shape[1] - 1)
    for (text, expected), tokens in zip(task.examples["test"], result.tokens):
        predicted = "".join(task.target_vocabulary.decode(tokens))
        print(f"  {text!r:40s} → {predicted!r}  (expected {expected!r})")


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "describe":
            _describe(args.name)
        elif args.command == "train":
            _train(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-attn: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
