"""The review desk the lifespan built, as a typed dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.review.service import ReviewDesk


async def review_desk(request: Request) -> ReviewDesk:
    """Return the review desk."""
    value: ReviewDesk = request.state.review
    return value


ReviewDep = Annotated[ReviewDesk, Depends(review_desk)]
