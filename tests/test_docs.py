"""Documentation that cannot fall behind the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from covenant.declaration import model

DOCS = Path(__file__).parent.parent / "docs"


def _models() -> list[type[BaseModel]]:
    return [
        v
        for v in vars(model).values()
        if isinstance(v, type)
        and issubclass(v, BaseModel)
        and v.__module__ == model.__name__
        and v not in (model.Strict,)
    ]


def test_every_declaration_key_is_documented() -> None:
    text = (DOCS / "declaration.md").read_text()
    missing = [
        f"{m.__name__}.{name}"
        for m in _models()
        for name, info in m.model_fields.items()
        if f"`{info.alias or name}`" not in text
    ]
    assert not missing, f"document these keys in docs/declaration.md: {missing}"
