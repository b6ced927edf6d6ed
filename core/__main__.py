"""`python -m core ...`: the command line (see core/cli.py).

A Ctrl-C ends it with one line and exit code 130 from start-up to exit: while torch, shap and scikit-learn
load (seconds, here, since `core` itself imports none of them), while it computes (core.cli says so and
writes nothing), and after its files are written, when the interpreter's own shutdown would otherwise
print a traceback from inside whatever exit handler it was running.
"""
import signal
import sys


def _run() -> int:
    try:
        from .cli import main
        return main()
    except KeyboardInterrupt:  # core.cli answers one during its work; this, one during imports or its last lines
        print("interrupted.", file=sys.stderr)
        return 130


code = _run()
if "core.cli" in sys.modules:  # every file is written, or was never begun: a Ctrl-C has nothing left to spare
    signal.signal(signal.SIGINT, sys.modules["core.cli"].interrupted_after_writing)
sys.exit(code)
