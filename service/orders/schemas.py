"""A stored order and its decision as one caller may see them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class OrderView(BaseModel):
    """The attributes of an order and its decision that the caller's role may see."""

    order_id: str | None = Field(description="the order id, unless the role may not see it")
    role: str = Field(description="the role the attributes were masked for")
    order: dict[str, Any] = Field(description="shown order attributes, nested as sent")
    decision: dict[str, Any] = Field(description="shown decision attributes")
    masked: list[str] = Field(description="attributes shown in masked form")
    hidden: list[str] = Field(description="attributes left out for this role")
