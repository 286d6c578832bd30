"""The ``backdrop`` command: ``backdrop serve | cutout | idphoto | predict | purge [ARGS...]``.

One entry point (pyproject.toml's console script, or ``python -m webapp.command``) in front of the
tools' own ``main()`` functions, which keep their ``python -m ...`` forms. Each tool is imported only
when chosen, so ``backdrop purge`` starts without loading the models. It lives in ``webapp`` because
it reaches both layers; ``ml`` never imports the web app.
"""
from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path
from typing import Callable, NoReturn

import click

ROOT = Path(__file__).resolve().parent.parent

# Subcommand -> ("module:function", what it does); the function takes the remaining arguments.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("webapp.command:serve", "run the web app under gunicorn (gunicorn.conf.py; extra options go to gunicorn)"),
    "cutout": ("ml.cutout:main", "cut people out of photos onto a new background (python -m ml.cutout)"),
    "idphoto": ("ml.idphoto.__main__:main", "make passport and ID photos (python -m ml.idphoto)"),
    "predict": ("ml.predict:main", "write full-size person masks (python -m ml.predict)"),
    "purge": ("webapp.purge:main", "delete jobs older than the retention age (python -m webapp.purge)"),
}


def serve(argv: list[str]) -> NoReturn:
    """Replace this process with gunicorn serving ``wsgi:app`` from the repository, as ``make run`` does."""
    command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT),
               *argv, "wsgi:app"]
    os.execv(sys.executable, command)


def usage() -> str:
    """The command list, built from COMMANDS so that it cannot disagree with the dispatch."""
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    return f"usage: backdrop {{{','.join(COMMANDS)}}} [ARGS...]\n\n{rows}\n\n`backdrop COMMAND --help` for its options."


def resolve(name: str) -> Callable:
    """The function behind subcommand ``name``, imported now."""
    module, function = COMMANDS[name][0].split(":")
    return getattr(import_module(module), function)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default: the process's arguments) to a tool; 2 with the usage for a bad name."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"backdrop: unknown command {name!r}\n{usage()}", file=sys.stderr)
        return 2
    target = resolve(name)
    if isinstance(target, click.Command):  # purge is a click command: it parses and exits itself
        return target.main(args=rest, prog_name=f"backdrop {name}")
    return target(rest)


if __name__ == "__main__":
    sys.exit(main())
