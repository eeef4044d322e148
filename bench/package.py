"""The deployment package, measured for `make bench`: requirements.txt installed into a clean folder the way a
Functions build lays it out (`.python_packages/lib/site-packages`, no byte code: .funcignore drops __pycache__),
the app files .funcignore lets through, zipped with deflate as the deployment uploads it. Reports zipped and
unzipped size, file count and the largest packages; then imports every module of function_app.py, functions/ and
shared/ from that folder alone (python -I -S: no other site-packages), which proves requirements.txt is complete.

    python -m bench.package [--keep DIR] [--results bench/results.json] [--requirements FILE]"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.deployment import REPO, shipped_files

SITE = Path(".python_packages") / "lib" / "site-packages"
TARGET_MB = 20.0


def app_modules() -> list[str]:
    files = [f for f in shipped_files() if f.endswith(".py")]
    return sorted(f.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for f in files)


def build(folder: Path, requirements: Path) -> float:
    """Install the requirements alone into folder/.python_packages, copy the app; returns the seconds it took."""
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            str(folder / SITE),
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install requirements.txt: {done.stderr[-3000:]}")
    for name in shipped_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, folder / name)
    return time.perf_counter() - began


def zip_folder(folder: Path, archive: Path) -> dict[str, Any]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    by_package: Counter[str] = Counter()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
        for path in files:
            relative = path.relative_to(folder)
            zipped.write(path, relative.as_posix())
            parts = relative.parts
            top = parts[len(SITE.parts)] if parts[: len(SITE.parts)] == SITE.parts else "(app)"
            by_package[top.split("-")[0].split(".dist")[0]] += path.stat().st_size
    return {
        "zip_mb": archive.stat().st_size / 1e6,
        "unzipped_mb": sum(p.stat().st_size for p in files) / 1e6,
        "files": len(files),
        "largest": [[name, size / 1e6] for name, size in by_package.most_common(8)],
    }


def import_everything(folder: Path) -> dict[str, Any]:
    """Import every app module with only the package folder and the app on sys.path (no venv site-packages)."""
    modules = app_modules()
    code = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(folder / SITE)!r}, {str(folder)!r}]\n"
        "failed = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
        "outside = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)"
        f" and 'site-packages' in m.__file__ and not m.__file__.startswith({str(folder)!r})}})\n"
        "print(json.dumps({'failed': failed, 'outside': outside[:5]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the import check crashed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["modules"] = len(modules)
    return result


def measure(keep: Path | None = None, requirements: Path = REPO / "requirements.txt") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="deployment-") as scratch:
        folder = keep or Path(scratch) / "package"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        install_s = build(folder, requirements)
        archive = Path(scratch) / "package.zip"
        result = zip_folder(folder, archive) | {"install_s": install_s, "target_mb": TARGET_MB}
        result["imports"] = import_everything(folder)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build the folder here and keep it")
    parser.add_argument("--results", type=Path, help="merge the measurement into this results.json")
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt", help="another list to compare")
    args = parser.parse_args()
    result = measure(args.keep, args.requirements)
    print(json.dumps(result, indent=2))
    if args.results:
        results = json.loads(args.results.read_text()) if args.results.is_file() else {}
        results["package"] = result
        args.results.write_text(json.dumps(results, indent=2, sort_keys=True))
    failed = result["imports"]["failed"] or result["imports"]["outside"]
    return 1 if failed or result["zip_mb"] >= TARGET_MB else 0


if __name__ == "__main__":
    raise SystemExit(main())
