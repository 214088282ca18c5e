"""Helpers for the workflow's thin scripts (``workflow/scripts/*.py``).

:func:`script` wraps a script body: it sends output to the rule's log, sets torch's thread count
to the rule's threads, and turns expected errors (bad config, bad or missing data) into a one-line
message, on the terminal and in the log, instead of a traceback from deep inside. Before the body
runs it removes what a killed earlier attempt of the same job may have left beside its outputs
(``.<output>.*.tmp`` files of :func:`~vaeinfer.results.io.atomic_path`; the outputs themselves
are never partial), and it sends the ``vaeinfer`` loggers' INFO messages (e.g. "resuming from
... at epoch k") to the log.
"""

from __future__ import annotations

import contextlib
import logging
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

    from vaeinfer.results.io import remove_stale_temporaries

    os.environ.setdefault("MPLBACKEND", "Agg")
    torch.set_num_threads(max(1, int(getattr(smk, "threads", 1))))
    terminal = sys.stderr
    log_path = smk.log[0] if len(smk.log) else os.devnull
    # Snakemake runs one job per output at a time, so temporaries beside them are a killed attempt's.
    for output in getattr(smk, "output", ()):
        remove_stale_temporaries(output)
    with open(log_path, "w", buffering=1) as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("vaeinfer")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
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
        finally:
            logger.removeHandler(handler)
