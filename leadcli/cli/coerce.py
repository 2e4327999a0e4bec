"""Plain-Python coercion for the simple option types leadcli uses (str, int, float, bool and
lists of them), installed on the Click command Typer builds — fenced, because it relies on
private Typer names.

Typer ≥ 0.29 coerces every parameter through a pydantic `TypeAdapter`, built lazily the first
time a parameter is parsed: that alone imports pydantic (~40 ms, more than all of leadcli) on
every run, even `leadcli count`. Our parameters need nothing pydantic offers, so each simple one
gets a `SimpleRuntimeParam` up front and pydantic stays unloaded. Anything else (enums, paths,
files, custom parsers, ranges) keeps Typer's own coercion.

The fence: this uses Typer's private `typer._coercion.RuntimeParam` (subclassed), a parameter's
`_runtime_param` and `type_descriptor`, and `RuntimeParam.coerce` calling `_coerce_value`. Before
any parameter is touched, `_plain_class` checks the base class is the one this was written for
(its fields and abstract methods), and `install` checks on one parameter that Typer really
routes a value through the plain coercion. If anything differs or fails — an import, a check,
an exception anywhere — nothing is patched (or what was patched is put back) and Typer's stock
coercion runs: slower (pydantic loads), never broken. `active()` says which one runs;
tests/test_coerce.py simulates upstream changes, tests/test_startup.py fails if the patch stops
applying, and `.ci/run` runs those against the newest Typer.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from leadcli.domain.text import NO_WORDS, YES_WORDS

SIMPLE_TYPES: tuple[type, ...] = (str, int, float, bool)
TYPE_NAMES = {int: "integer", float: "number", bool: "boolean", str: "text"}
# What the base class looked like when this was written (typer 0.29).
EXPECTED_FIELDS = {"parameter_info", "annotation"}
EXPECTED_ABSTRACT = {"_coerce_value"}

_active = False


def active() -> bool:
    """Whether the plain coercion is installed (False: Typer's stock coercion runs)."""
    return _active


def _leaf_type(annotation: Any) -> type | None:
    """The element type if `annotation` is a simple type or a list of one, else None."""
    if annotation in SIMPLE_TYPES:
        return annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        if len(args) == 1 and args[0] in SIMPLE_TYPES:
            return args[0]
    return None


def convert(value: Any, kind: type) -> Any:
    """One command-line value as `kind`; ValueError with a message a user can act on."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    if kind is str:
        return str(value)
    if kind is bool:
        if text.lower() in YES_WORDS:
            return True
        if text.lower() in NO_WORDS:
            return False
    elif text.isascii():  # as Typer's own coercion: no other scripts' digits
        if kind is int and "." in text and not text.partition(".")[2].strip("0"):
            text = text.partition(".")[0]  # "3.0" is 3, as Typer's own coercion reads it
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a valid {TYPE_NAMES[kind]}")


def _plain_class() -> Any:
    """`SimpleRuntimeParam`, a subclass of Typer's private RuntimeParam; None if Typer no longer
    has that class as this module knows it."""
    from dataclasses import dataclass, fields

    from typer import BadParameter
    from typer._coercion import RuntimeParam

    if {f.name for f in fields(RuntimeParam)} != EXPECTED_FIELDS or set(RuntimeParam.__abstractmethods__) != EXPECTED_ABSTRACT:
        return None

    @dataclass(frozen=True)
    class SimpleRuntimeParam(RuntimeParam):
        kind: type = str

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if isinstance(value, (list, tuple)):
                    return [convert(item, self.kind) for item in value]
                return convert(value, self.kind)
            except ValueError as exc:
                raise BadParameter(str(exc), ctx=ctx, param=param) from None

    return SimpleRuntimeParam


class _Patch:
    """The parameters given the plain coercion, so that a failed check can put them back."""

    def __init__(self, plain: Any) -> None:
        self.plain = plain
        self.done: list[Any] = []

    def simplify(self, param: Any) -> None:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None or descriptor.file_annotation is not None:
            return
        info = descriptor.parameter_info
        if getattr(info, "parser", None) is not None or getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
            return
        kind = _leaf_type(descriptor.annotation)
        if kind is not None:
            param._runtime_param = self.plain(parameter_info=info, annotation=descriptor.annotation, kind=kind)
            self.done.append(param)

    def check(self) -> bool:
        """Typer routes a value through the plain coercion: the parameter hands out our runtime
        param, whose `coerce` (Typer's code) calls our `_coerce_value` the way it is written."""
        if not self.done:
            return False
        param = self.done[0]
        runtime = param.get_runtime_param()
        if runtime is not param._runtime_param or not isinstance(runtime, self.plain):
            return False
        probe = self.plain(parameter_info=runtime.parameter_info, annotation=int, kind=int)
        single = type("Probe", (), {"multiple": False, "nargs": 1})()
        return probe.coerce(" 7", param=single, ctx=None) == 7 and probe.coerce(None, param=single, ctx=None) is None

    def undo(self) -> None:
        for param in self.done:
            param._runtime_param = None
        self.done.clear()


def install(command: Any) -> Any:
    """Give every simple Typer parameter of `command` and its subcommands the plain coercion,
    including the `-h/--help` option Click creates on demand — or, if anything is not as this
    module expects, leave Typer's own coercion in place."""
    global _active
    _active = False
    patch: _Patch | None = None
    try:
        plain = _plain_class()
        if plain is None:
            return command
        patch = _Patch(plain)
        commands = list(_walk(command))
        for cmd in commands:
            for param in cmd.params:
                patch.simplify(param)
        if not patch.check():
            patch.undo()
            return command
        for cmd in commands:
            _simplify_help_option(cmd, patch)
    except Exception:
        if patch is not None:
            patch.undo()
        return command
    _active = True
    return command


def _walk(cmd: Any) -> Any:
    yield cmd
    for sub in getattr(cmd, "commands", {}).values():
        yield from _walk(sub)


def _simplify_help_option(cmd: Any, patch: _Patch) -> None:
    make_help_option = cmd.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            try:
                patch.simplify(option)
            except Exception:  # the fence: this option keeps Typer's coercion
                pass
        return option

    cmd.get_help_option = get_help_option
