"""Raw request bodies: template YAML arrives as text; secret-bearing JSON is parsed by hand.

FastAPI's own validation answers echo the submitted body, so bodies that carry a password are
read with ``read_secret_json_body``, whose errors name fields but never repeat the input.
"""

from __future__ import annotations

__all__ = [
    "YAML_BODY",
    "YamlBodyDep",
    "json_body_spec",
    "read_secret_json_body",
    "read_yaml_body",
]

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from helmforge.core.errors import InputError, Location
from helmforge.core.json_codec import load_json

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


def json_body_spec(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body that the route reads by hand."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def read_secret_json_body[Model: BaseModel](
    request: Request, model: type[Model], *, what: str, expected: str = "a JSON object"
) -> Model:
    """Parse the body into ``model``; ``InputError`` names each bad field, never its value.

    ``what`` names the body in messages ("registry"); ``expected`` describes a valid body.
    """
    raw = await request.body()
    try:
        # The same decoding as every JSON body (whatever the content type said): its messages
        # name a line, column or path, never a value.
        data: Any = load_json(raw, source="the request body")
    except InputError as error:
        raise InputError(f"the request body is not {expected}: {error.message}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = tuple(
            InputError(
                str(item["msg"]),
                location=Location(path=".".join(str(p) for p in item["loc"]) or None),
            )
            for item in error.errors(include_input=False, include_url=False)
        )
        raise InputError(
            f"invalid {what}: " + "; ".join(f"{p.location}: {p}" for p in problems),
            problems=problems,
        ) from None
