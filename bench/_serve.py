"""Run `archon-mcp` from a source tree given in ARCHON_BENCH_SRC (a frozen snapshot), else the checkout.

The checkout is shared with engineers editing it; benchmarking a snapshot keeps a run consistent.
"""

import os
import sys
import tempfile

src = os.environ.get("ARCHON_BENCH_SRC")
if src:
    # The editable install's import hook would win over sys.path: drop it.
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + str(f)]
    sys.path.insert(0, src)
    # Trees older than the `python -P` fix start their shared server and model process with `python -m`,
    # which imports from the working directory first: never let that be the checkout.
    os.chdir(tempfile.gettempdir())

if __name__ == "__main__":
    import runpy

    sys.argv[0] = "archon-mcp"
    # As the `archon-mcp` script does (its fast paths included: the stdio relay, the hook client).
    runpy.run_module("archon_mcp", run_name="__main__", alter_sys=True)
