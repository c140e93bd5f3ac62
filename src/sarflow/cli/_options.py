"""Command-line options built from configuration dataclasses, so a parameter is declared once."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import click

__all__ = ["dataclass_options", "build_dataclass"]


def _option_name(prefix: str, name: str) -> str:
    return f"--{prefix}{name}".replace("_", "-")


def _param_name(prefix: str, name: str) -> str:
    return f"{prefix}{name}".replace("-", "_")


def _docstring_help(cls) -> dict[str, str]:
    """First sentence of each entry of a NumPy-style "Parameters" section, by name."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    in_params = False
    names: list[str] = []
    text: list[str] = []

    def flush():
        if names and text:
            sentence = " ".join(text).replace("``", "").split(". ")[0].rstrip(".")
            for name in names:
                out[name] = sentence
    for i, line in enumerate(lines):
        if line.strip() in ("Parameters", "Attributes") and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_params = True
            continue
        if not in_params or set(line.strip()) == {"-"}:
            continue
        if line and not line.startswith(" "):
            if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"} and line.strip():
                flush()
                in_params = False
                names, text = [], []
                continue
            flush()
            names = [n.strip() for n in line.split(":")[0].split(",")]
            text = []
        elif line.strip():
            text.append(line.strip())
    flush()
    return out


def dataclass_options(cls, *, prefix: str = "", exclude: tuple[str, ...] = (), defaults: dict | None = None):
    """Decorator adding one click option per field of dataclass ``cls``.

    Field types float, int, str, bool (a ``--x/--no-x`` flag) and tuples of floats are supported;
    help text comes from ``field.metadata["help"]``; ``defaults`` overrides field defaults.
    """
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    documented = _docstring_help(cls)

    def decorate(func):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in exclude or not f.init or f.name.startswith("_"):
                continue
            typ = hints[f.name]
            default = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
            help_text = f.metadata.get("help", documented.get(f.name, ""))
            name = _option_name(prefix, f.name)
            dest = _param_name(prefix, f.name)
            origin = typing.get_origin(typ)
            if typ is bool:
                opt = click.option(f"{name}/--no-{name[2:]}", dest, default=default, show_default=True, help=help_text)
            elif origin is tuple:
                args = typing.get_args(typ)
                opt = click.option(name, dest, type=args[0], nargs=len(args), default=default, show_default=True,
                                   help=help_text)
            elif origin is typing.Literal:
                opt = click.option(name, dest, type=click.Choice(typing.get_args(typ)), default=default,
                                   show_default=True, help=help_text)
            elif typ in (int, float, str):
                opt = click.option(name, dest, type=typ, default=default, show_default=True, help=help_text)
            else:
                continue
            func = opt(func)
        return func

    return decorate


def build_dataclass(cls, kwargs: dict, *, prefix: str = "", exclude: tuple[str, ...] = ()):
    """Pop this dataclass's options out of ``kwargs`` (all but ``exclude``) and build an instance."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        key = _param_name(prefix, f.name)
        if key in kwargs:
            values[f.name] = kwargs.pop(key)
    return cls(**values)
