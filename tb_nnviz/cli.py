"""The ``tb-nnviz`` command.

    tb-nnviz demo [--logdir DIR] [--port 6006] [--epochs 20] [--runs healthy,cnn] [--no-serve]
    tb-nnviz serve --logdir DIR [--port 6006]
    tb-nnviz report LOGDIR [--run REGEX] [--loss-tag TRAIN[,VALIDATION]] [--json]
                    [--fail-on error|warning|info|never]
    tb-nnviz animate LOGDIR --run RUN --tag TAG -o OUT.gif [--colormap diverging|viridis]
                     [--diff none|prev|first] [--frame-ms 500]

The ``report`` and ``animate`` commands read the event files without TensorFlow (TensorBoard's
own stub, ``tb_nnviz.serve.report.read_without_tensorflow``): no TensorFlow
start-up, no TensorFlow lines on stderr. ``main(argv)`` called from Python
leaves the process's TensorBoard as it is.
"""

import argparse
import json
import sys


def tensorboard_plugins():
    """TensorBoard's default plugins with NNViz among them.

    An installed tb-nnviz is already found through its entry point; from a
    source tree it is added here (a second copy would be a duplicate plugin).
    """
    from tensorboard import default

    from tb_nnviz.serve.plugin import NNVizLoader

    plugins = default.get_plugins()
    if not any(p is NNVizLoader or isinstance(p, NNVizLoader) for p in plugins):
        plugins.append(NNVizLoader)
    return plugins


def serve(logdir, port, host="localhost"):
    """Runs TensorBoard on ``logdir`` with the NNViz plugin until interrupted."""
    from tensorboard import program

    tb = program.TensorBoard(plugins=tensorboard_plugins())
    tb.configure(argv=[None, "--logdir", logdir, "--port", str(port), "--host", host])
    url = tb.launch()
    print("NNViz: open %s#nnviz (Ctrl+C to stop)" % url, flush=True)
    try:
        import time

        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def _parser():
    parser = argparse.ArgumentParser(prog="tb-nnviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the digits case study, then serve TensorBoard")
    demo.add_argument("--logdir", default="logs/nnviz-demo", help="where to write (default: %(default)s)")
    demo.add_argument("--port", type=int, default=6006, help="TensorBoard port (default: %(default)s)")
    demo.add_argument(
        "--epochs", type=int, default=20, help="epochs per run (default: %(default)s; overfit always trains 40)"
    )
    demo.add_argument("--runs", default=None, help="comma-separated runs to train (default: all)")
    demo.add_argument("--no-serve", action="store_true", help="train and write logs only")
    srv = sub.add_parser("serve", help="serve TensorBoard with the NNViz tab")
    srv.add_argument("--logdir", required=True)
    srv.add_argument("--port", type=int, default=6006)
    rep = sub.add_parser(
        "report",
        help="say what is wrong with each run's training (exit 1 on findings at --fail-on)",
        description="Findings of every run with tb_nnviz data: a table, or JSON with --json. "
        "Exit status: 1 when a finding at or above --fail-on exists, 0 otherwise, "
        "2 for a bad argument or a log dir without tb_nnviz data.",
    )
    rep.add_argument("logdir", help="the log dir TensorBoard would read")
    rep.add_argument("--run", default=None, help="report only runs matching this regular expression")
    rep.add_argument("--loss-tag", default=None, metavar="TRAIN[,VALIDATION]",
                     help="the scalar tags of the training (and validation) loss, when they are not one of the "
                     "names the loss findings know (epoch_loss, loss, train/loss, eval/loss, train_loss, val_loss, "
                     "Loss/train, ...); default: $TB_NNVIZ_LOSS_TAGS, else found by name")
    rep.add_argument("--json", action="store_true",
                     help='print {"runs": {run: [finding, ...]}, "notes": {run: [note, ...]}}')
    rep.add_argument("--fail-on", default="error", choices=("error", "warning", "info", "never"),
                     help="lowest severity that makes the exit status 1 (default: %(default)s)")
    ani = sub.add_parser(
        "animate",
        help="write one tensor's heatmap over its logged steps as an animated GIF",
        description="One frame per logged heatmap step (title, step, heatmap, colour bar), all on one colour range. "
        "Exit status 2 for a bad argument, an unknown run or tag, or a tag without heatmaps.",
    )
    ani.add_argument("logdir", help="the log dir TensorBoard would read")
    ani.add_argument("--run", required=True, help="the run, as TensorBoard or tb-nnviz report names it")
    ani.add_argument("--tag", required=True, help="the tensor's name, as the tab's card title shows it")
    ani.add_argument("-o", "--output", required=True, help="the GIF file to write")
    ani.add_argument("--colormap", default="diverging", choices=("diverging", "viridis"),
                     help="signed values centred at 0, or |x| in viridis (default: %(default)s)")
    ani.add_argument("--diff", default="none", choices=("none", "prev", "first"),
                     help="the weights, or their change since the previous or first logged step "
                     "(default: %(default)s)")
    ani.add_argument("--frame-ms", type=int, default=500, help="time per frame (default: %(default)s)")
    return parser


#: Optional modules TensorBoard's TensorFlow stub imports for ``s3://`` and
#: fsspec URLs (a fifth of the report's time); a local log dir needs none.
_URL_FILE_SYSTEMS = ("boto3", "botocore", "fsspec")


def read_without_tensorflow(logdir):
    """Sets up this process (the ``tb-nnviz report`` command) to read ``logdir``
    without TensorFlow; True when it will. Call it before anything imports
    TensorBoard's modules: for a local log dir, TensorBoard's stub is then
    imported without its URL file systems. Does nothing when TensorFlow is
    imported already, or for a URL (see
    ``tb_nnviz.serve.report.read_without_tensorflow``)."""
    if "://" in logdir or "tensorflow" in sys.modules:
        return False
    if "tensorboard.compat.tensorflow_stub" not in sys.modules:
        for name in _URL_FILE_SYSTEMS:
            sys.modules.setdefault(name, None)  # "import boto3" raises ImportError: the stub goes without
    from tb_nnviz.serve import report as _report

    return _report.read_without_tensorflow(logdir)


def report(args):
    """``tb-nnviz report``: prints the findings; returns the exit status."""
    from tb_nnviz.serve import report as _report

    try:
        by_run = _report.load(args.logdir, args.run, args.loss_tag)
    except _report.ReportError as e:
        print("tb-nnviz report: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"runs": by_run, "notes": _report.notes_of(by_run)}, indent=2, allow_nan=False))
    else:
        print(_report.format_table(by_run))
    return _report.exit_status(by_run, args.fail_on)


def animate(args):
    """``tb-nnviz animate``: writes the GIF; returns the exit status."""
    from tb_nnviz.serve import animate as _animate

    try:
        steps = _animate.animate(args.logdir, args.run, args.tag, args.output, args.colormap, args.diff, args.frame_ms)
    except _animate.AnimateError as e:
        print("tb-nnviz animate: %s" % e, file=sys.stderr)
        return 2
    print("%s: %d frames, steps %d to %d" % (args.output, len(steps), steps[0], steps[-1]))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.logdir, args.port)
    if args.command in ("report", "animate"):
        if argv is None:  # the command itself, not a call from Python
            read_without_tensorflow(args.logdir)
        return report(args) if args.command == "report" else animate(args)
    from tb_nnviz import demo

    runs = [r for r in args.runs.split(",") if r] if args.runs else None
    try:
        demo.run_demo(args.logdir, runs=runs, epochs=args.epochs)
    except ValueError as e:
        print("tb-nnviz demo: %s" % e, file=sys.stderr)
        return 2
    print("Logs written to %s" % args.logdir, flush=True)
    if args.no_serve:
        print("View them with: tensorboard --logdir %s" % args.logdir)
        return 0
    return serve(args.logdir, args.port)


if __name__ == "__main__":
    sys.exit(main())
