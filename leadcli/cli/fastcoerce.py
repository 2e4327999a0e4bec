"""Option values without pydantic: Typer (0.29) converts every option's value through a pydantic
TypeAdapter, which costs ~40 ms of imports plus an adapter per option on every run, even for
`leadcli count`. leadcli's options are plain str, int, float, bool and list[str]; those are
converted here, and anything else (or a value these rules do not accept, so the error message
stays Typer's own) goes to Typer's adapter as before."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import typer.core
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PLAIN = (str, int, float, bool)


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    descriptor: TypeDescriptor
    leaf: type
    many: bool

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.many:
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            return self._typer(value, param, ctx)
        if type(value) is self.leaf:
            return value
        if isinstance(value, str):
            text = value.strip()
            if self.leaf is int and _INT.fullmatch(text):
                return int(text)
            if self.leaf is float and _FLOAT.fullmatch(text):
                return float(text)
        return self._typer(value, param, ctx)

    def _typer(self, value: Any, param: Any, ctx: Any) -> Any:
        return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)


def plain_or_typer(descriptor: TypeDescriptor) -> RuntimeParam:
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    many = get_origin(annotation) is list and get_args(annotation) == (str,)
    plain = (annotation in _PLAIN or many) and descriptor.file_annotation is None
    if not plain or info.parser is not None or info.min is not None or info.max is not None:
        return build_runtime_param(descriptor)
    leaf = str if many else annotation
    return PlainRuntimeParam(info, annotation, descriptor, leaf, many)  # type: ignore[arg-type]


def install() -> None:
    typer.core.build_runtime_param = plain_or_typer  # type: ignore[attr-defined]
