"""Bad input as the commands report it: what is wrong, and the file and line
where it is when known (one line on stderr; under --json also the document
`{"error": {"file", "line", "message"}}` on stdout); exit status 2."""

from __future__ import annotations

from typing import Any


class Failure(Exception):
    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.file, self.line = message, file, line

    def __str__(self) -> str:
        where = (
            f"{self.file}:{self.line}: "
            if self.file and self.line
            else f"{self.file}: "
            if self.file
            else ""
        )
        return where + self.message

    def doc(self) -> dict[str, Any]:
        return {"error": {"file": self.file, "line": self.line, "message": self.message}}
