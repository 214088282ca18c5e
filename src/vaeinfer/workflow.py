"""Helpers for the workflow's thin scripts (``workflow/scripts/*.py``).

:func:`script` wraps a script body: it sends output to the rule's log, sets torch's thread count
to the rule's threads, and turns expected errors (bad config, bad or missing data) into a one-line
message, on the terminal and in the log, instead of a traceback from deep inside.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["USER_ERRORS", "script"]

#: errors that mean "bad input": reported as a message, not a traceback
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError, OSError, KeyError)


def script(smk: Any, body: Callable[[Any], None]) -> None:
    """Run ``body(smk)`` for the Snakemake ``smk`` object with logging, threads and clean errors."""
    import torch

    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(max(1, int(getattr(smk, "threads", 1))))
    terminal = sys.stderr
    log_path = smk.log[0] if len(smk.log) else os.devnull
    with open(log_path, "w", buffering=1) as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
        try:
            body(smk)
        except USER_ERRORS as err:
            message = f"{smk.rule}: {type(err).__name__}: {err}"
            print(f"ERROR: {message}", file=log)
            print(f"ERROR: {message}", file=terminal)
            sys.exit(1)
        except BaseException:
            traceback.print_exc(file=log)
            traceback.print_exc(file=terminal)
            raise
