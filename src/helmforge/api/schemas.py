"""Request (``XCreate``/``XUpdate``) and response (``XPublic``) bodies of the REST API."""

from __future__ import annotations

__all__ = [
    "AuditEventPublic",
    "ChartBuildCreate",
    "ChartBuildPublic",
    "ChartFilesPublic",
    "ChartPreviewCreate",
    "ChartPreviewPublic",
    "DiffPublic",
    "EffectiveValuesPublic",
    "ProblemPublic",
    "TemplateDraftUpdate",
    "TemplateSummaryPublic",
    "TemplateVersionPublic",
    "TokenCreate",
    "TokenCreatedPublic",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
    "UserSignOutCreate",
    "UserSignOutPublic",
    "ValidationPublic",
    "VersionStatusPublic",
]

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemPublic(BaseModel):
    message: str
    line: int | None = None
    path: str | None = None
    severity: str = "error"


class ValidationPublic(BaseModel):
    valid: bool
    problems: list[ProblemPublic]


class TemplateVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: str
    status: str
    revision: int
    content: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class VersionStatusPublic(BaseModel):
    version: str
    status: str


class TemplateSummaryPublic(BaseModel):
    name: str
    versions: list[VersionStatusPublic]
    latest_published: str | None


class TemplateDraftUpdate(_Strict):
    content: str = Field(max_length=2 * 1024 * 1024, description="the whole template YAML")
    revision: int = Field(ge=0, description="the revision this edit started from")


class DiffPublic(BaseModel):
    name: str
    old: str
    new: str
    diff: str


class ChartBuildCreate(_Strict):
    template: str = Field(
        max_length=200, description="NAME@VERSION of a published template (or NAME)"
    )
    context: dict[str, Any] = Field(
        description="product, customer, environment, instance and version"
    )
    values: dict[str, Any] = Field(default_factory=dict, description="value overrides")
    chart_version: str | None = Field(default=None, max_length=128)


class ChartPreviewCreate(ChartBuildCreate):
    """Like a build, but drafts are allowed and nothing is recorded."""


class ChartBuildPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    template: str
    context: dict[str, Any]
    values: dict[str, Any]
    name: str
    version: str
    app_version: str
    digest: str
    size: int
    file_name: str
    created_by: str
    created_at: datetime
    generator: dict[str, str] | None = Field(
        default=None,
        description=(
            "what produced the archive's bytes: the versions of helmforge, python, zlib and"
            " pyyaml at the build; null for a build recorded before they were"
        ),
    )


class ChartPreviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template: str
    name: str
    version: str
    app_version: str
    files: dict[str, str]


class ChartFilesPublic(BaseModel):
    id: str
    files: dict[str, str]


class EffectiveValuesPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template: str
    values: dict[str, Any]
    provenance: dict[str, Any]


class UserCreate(_Strict):
    name: str = Field(max_length=64)
    role: str | None = Field(
        default=None,
        max_length=32,
        description="a built-in role bound at */*/*/*; without it the user holds no binding",
    )
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="without it one is generated and answered once, as password",
    )


class UserSignOutCreate(_Strict):
    revoke_tokens: bool = Field(
        default=False, description="also revoke every API token of the user"
    )


class UserSignOutPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user: str
    sessions_closed: int
    tokens_revoked: int


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool


class UserCreatedPublic(UserPublic):
    """A new user; ``password`` only when the server generated it (shown this once)."""

    password: str | None = None


class TokenCreate(_Strict):
    user: str | None = Field(default=None, max_length=64, description="default: yourself")
    label: str = Field(default="", max_length=128)
    bindings: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        default=None,
        max_length=100,
        description="ids of the user's bindings the token acts with (default: all of them)",
    )


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreatedPublic(TokenPublic):
    token: str = Field(description="the secret, shown this once")


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target: str
    before: Any
    after: Any
