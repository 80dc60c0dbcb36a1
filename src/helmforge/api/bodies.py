"""Raw request bodies: template YAML arrives as text, not JSON."""

from __future__ import annotations

__all__ = ["YAML_BODY", "YamlBodyDep", "read_yaml_body"]

from typing import Annotated, Any

from fastapi import Depends, Request

from helmforge.core.errors import InputError

YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a template as YAML text",
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


async def read_yaml_body(request: Request) -> str:
    """The request body as text (the size limit was checked before); raises ``InputError``."""
    raw = await request.body()
    if not raw.strip():
        raise InputError("the request body is empty; send the template YAML")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"the request body is not UTF-8 text (byte {error.start})") from None


YamlBodyDep = Annotated[str, Depends(read_yaml_body)]
