"""A JSON response for the hot answers (a decision, an admission review).

Starlette's ``JSONResponse`` writes with the standard library's encoder, which cost about as
much CPU as the SQL of a recorded decision. orjson writes the same JSON values (compact, UTF-8
as is); the bytes differ only in number spelling it is free to choose (``1e16`` for ``1e+16``),
which no JSON reader tells apart. Decisions are recorded as RFC 8785 in the log, not as these
bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
