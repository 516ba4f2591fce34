"""The ``tb-nnviz`` command.

    tb-nnviz demo [--logdir DIR] [--port 6006] [--epochs 20] [--runs healthy,cnn] [--no-serve]
    tb-nnviz serve --logdir DIR [--port 6006]
"""

import argparse
import sys


def tensorboard_plugins():
    """TensorBoard's default plugins with NNViz among them.

    An installed tb-nnviz is already found through its entry point; from a
    source tree it is added here (a second copy would be a duplicate plugin).
    """
    from tensorboard import default

    from tb_nnviz.plugin import NNVizLoader

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
    demo.add_argument("--epochs", type=int, default=20, help="epochs per run (default: %(default)s)")
    demo.add_argument("--runs", default=None, help="comma-separated runs to train (default: all)")
    demo.add_argument("--no-serve", action="store_true", help="train and write logs only")
    srv = sub.add_parser("serve", help="serve TensorBoard with the NNViz tab")
    srv.add_argument("--logdir", required=True)
    srv.add_argument("--port", type=int, default=6006)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.logdir, args.port)
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
