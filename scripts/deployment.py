"""What a Functions deployment of this repository ships: the files `.funcignore` lets through (gitignore syntax,
as azd and Core Tools read it), listed by git itself so the matching is exactly gitignore's."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shipped_files(root: Path = REPO) -> list[str]:
    """Every file under root that .funcignore does not exclude, relative and sorted. Uses a throwaway empty git
    repository so that only .funcignore's patterns apply (no .gitignore, no index)."""
    with tempfile.TemporaryDirectory(prefix="funcignore-") as scratch:
        git_dir = Path(scratch) / "git"
        subprocess.run(["git", "init", "--quiet", str(git_dir)], check=True)
        listed = subprocess.run(
            [
                "git",
                f"--git-dir={git_dir / '.git'}",
                f"--work-tree={root}",
                "ls-files",
                "--others",
                "-z",
                f"--exclude-from={root / '.funcignore'}",
            ],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name)
