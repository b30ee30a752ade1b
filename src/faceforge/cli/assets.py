"""``faceforge assets install|status``: install and inspect model assets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceforge.assets import ICT_NAME, ict_status, install_ict_facekit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="install or inspect model assets (ICT-FaceKit)")
    s = p.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    i = s.add_parser("install", help="verify and install a model into the cache")
    i.add_argument("name", choices=[ICT_NAME])
    i.add_argument("--from", dest="source", type=Path, help="upstream archive or FaceXModel/ folder (else download)")
    i.add_argument("--force", action="store_true", help="reinstall even if installed")
    i.set_defaults(func=_install)
    st = s.add_parser("status", help="say what is installed and where")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)


def _install(args: argparse.Namespace) -> int:
    st = install_ict_facekit(args.source, force=args.force)
    print(f"{st.name}: installed at {st.path} ({st.size_bytes / 1e6:.1f} MB, from {st.source})")
    return 0


def _status(args: argparse.Namespace) -> int:
    st = ict_status()
    if args.json:
        print(json.dumps({"name": st.name, "installed": st.installed, "path": str(st.path), "source": st.source,
                          "size_bytes": st.size_bytes, "installed_at": st.installed_at}))
    elif st.installed:
        print(f"{st.name}: installed at {st.path} ({st.size_bytes / 1e6:.1f} MB, {st.installed_at}, from {st.source})")
    else:
        print(f"{st.name}: not installed (would live at {st.path}); run: faceforge assets install {st.name}")
    return 0
