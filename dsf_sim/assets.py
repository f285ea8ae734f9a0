"""Where the RTL, testbench, firmware and configurations live.

In a checkout they are the top-level folders rtl/, firmware/, configs/ next to the package; a
wheel ships copies inside the package (dsf_sim/_assets/<name>, pyproject.toml's package-dir), so
an installed dsf_sim builds and verifies the same sources outside any repository.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DsfError

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
NAMES = ("rtl", "firmware", "configs")


def in_checkout() -> bool:
    """Is this package the one of a source checkout (pyproject.toml and rtl/ beside it)?"""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "rtl").is_dir()


def asset_dir(name: str) -> Path:
    """The folder holding `name` ('rtl', 'firmware' or 'configs'); a named error if neither the
    checkout nor the installed package has it."""
    if name not in NAMES:
        raise DsfError(f"asset = {name!r} is invalid: allowed one of {list(NAMES)}")
    if in_checkout() and (CHECKOUT / name).is_dir():
        return CHECKOUT / name
    shipped = PACKAGE / "_assets" / name
    if shipped.is_dir():
        return shipped
    raise DsfError(f"asset folder {name!r} is missing: neither {CHECKOUT / name} nor {shipped} "
                   f"exists (a broken install? reinstall dsf_sim)")


def config_path(path: str) -> str:
    """A hardware config as given, else the shipped configs/<name>(.json) of that name (so
    `--hw kraken` or `--hw configs/kraken.json` also work outside a checkout)."""
    p = Path(path)
    if p.exists():
        return str(p)
    name = p.name if p.suffix == ".json" else p.name + ".json"
    cand = asset_dir("configs") / name
    return str(cand) if cand.exists() else str(p)
