"""Shared model bases: tolerant responses, strict requests, pages, and secret handling."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SecretStr, SerializationInfo, ValidationError

from airflow_provider_akool.client.errors import AkoolRequestError

T = TypeVar("T")
RequestT = TypeVar("RequestT", bound="RequestModel")


def _serialise_secret(value: SecretStr, info: SerializationInfo) -> str:
    # Request bodies need the real value; everything else (logs, repr, model_dump) sees a mask.
    if info.context and info.context.get("reveal_secrets"):
        return value.get_secret_value()
    return "**********"


Secret = Annotated[SecretStr, PlainSerializer(_serialise_secret, return_type=str)]


class ResponseModel(BaseModel):
    """Response objects tolerate unknown fields (Akool adds fields without notice)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class RequestModel(BaseModel):
    """Request objects reject unknown fields so a typo fails locally, before any call."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def to_body(self) -> dict[str, Any]:
        """JSON body as Akool expects it: API field names, no None values, secrets revealed."""
        data: dict[str, Any] = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, context={"reveal_secrets": True}
        )
        return data


class Page(ResponseModel, Generic[T]):
    """One page of a list endpoint (``data: {count, result}``)."""

    count: int = 0
    result: list[T] = Field(default_factory=list)
    page: int | None = None
    size: int | None = None


def describe_validation_error(what: str, error: ValidationError) -> str:
    """Render a pydantic error as 'field: problem' lines that name each offending field."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in item["loc"]) or "(request)"
        lines.append(f"{loc}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(lines)


def build_request(model: type[RequestT], what: str, values: dict[str, Any]) -> RequestT:
    """Validate keyword values into a request model, raising AkoolRequestError naming the fields."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise AkoolRequestError(describe_validation_error(what, exc)) from None
