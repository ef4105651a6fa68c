"""Golden files: generated JSON checked against the copy in the repository.

Regenerate them with AGENTSLO_REGENERATE=1 after a deliberate change, and read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def check_golden(path: Path, payload: Any) -> None:
    """`payload`, as indented JSON, is the text of `path` (which AGENTSLO_REGENERATE=1 rewrites)."""
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("AGENTSLO_REGENERATE"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
