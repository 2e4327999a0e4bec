"""Plain-Python coercion for the simple option types leadcli uses (str, int, float, bool and
lists of them), installed on the Click command Typer builds.

Typer ≥ 0.29 coerces every parameter through a pydantic `TypeAdapter`, built lazily the first
time a parameter is parsed: that alone imports pydantic (~40 ms, more than all of leadcli) on
every run, even `leadcli count`. Our parameters need nothing pydantic offers, so each simple one
gets a `SimpleRuntimeParam` up front and pydantic stays unloaded. Anything else (enums, paths,
files, custom parsers) keeps Typer's own coercion. This uses two private Typer names
(`RuntimeParam`, `_runtime_param`); if they change, everything still works through Typer's
coercion and tests/test_startup.py fails, pointing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

SIMPLE_TYPES: tuple[type, ...] = (str, int, float, bool)
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "off"}
TYPE_NAMES = {int: "integer", float: "number", bool: "boolean", str: "text"}


def _leaf_type(annotation: Any) -> type | None:
    """The element type if `annotation` is a simple type or a list of one, else None."""
    if annotation in SIMPLE_TYPES:
        return annotation  # type: ignore[no-any-return]
    if get_origin(annotation) is list:
        args = get_args(annotation)
        if len(args) == 1 and args[0] in SIMPLE_TYPES:
            return args[0]  # type: ignore[no-any-return]
    return None


def convert(value: Any, kind: type) -> Any:
    """One command-line value as `kind`; ValueError with a message a user can act on."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    if kind is str:
        return str(value)
    if kind is bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a valid {TYPE_NAMES[kind]}")


try:
    from typer._coercion import RuntimeParam
except ImportError:  # a Typer without the pydantic layer: nothing to replace
    RuntimeParam = None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class SimpleRuntimeParam(RuntimeParam):  # type: ignore[misc,valid-type]
        kind: type = str

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            from typer import BadParameter

            try:
                if isinstance(value, (list, tuple)):
                    return [convert(item, self.kind) for item in value]
                return convert(value, self.kind)
            except ValueError as exc:
                raise BadParameter(str(exc), ctx=ctx, param=param) from None


def _simplify(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", True) is not None or descriptor.file_annotation is not None:
        return
    info = descriptor.parameter_info
    if getattr(info, "parser", None) is not None or getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return
    kind = _leaf_type(descriptor.annotation)
    if kind is not None:
        param._runtime_param = SimpleRuntimeParam(parameter_info=info, annotation=descriptor.annotation, kind=kind)


def install(command: Any) -> Any:
    """Give every simple Typer parameter of `command` and its subcommands the plain coercion,
    including the `-h/--help` option Click creates on demand."""
    if RuntimeParam is None:
        return command

    def visit(cmd: Any) -> None:
        for param in cmd.params:
            _simplify(param)
        make_help_option = cmd.get_help_option

        def get_help_option(ctx: Any) -> Any:
            option = make_help_option(ctx)
            if option is not None:
                _simplify(option)
            return option

        cmd.get_help_option = get_help_option
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(command)
    return command
