"""The ``lab`` command: parses arguments into lab's options and prints or writes results.

``_main`` holds the command group and the value commands (``generate``, ``values``,
``datasets``, ``demo``); ``_plan``, ``_batch`` and ``_bench`` one command each;
``_util`` the shared error handling and progress display. Commands import the
library inside their body, so ``lab --help`` stays fast.
"""

from lab.cli._main import cli, main

__all__ = ["cli", "main"]
