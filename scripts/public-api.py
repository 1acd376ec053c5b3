#!/usr/bin/env python3
"""The public API of the workspace's library crates, as a sorted item list.

    python3 scripts/public-api.py           # check: diff against crates/<crate>/public-api.txt
    python3 scripts/public-api.py --bless   # rewrite those files after an intended change

Runs rustdoc's JSON output on the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the
unstable flag; no nightly, nothing installed) and walks it from the crate root,
following re-exports, so an item counts where a user can name it. Each line is one
item: kind and path, e.g. `fn llmtap::normalize`, `field llmtap::Usage::input`,
`method llmtap::Usage::uncached_input`, `impl llmtap::Sink for llmtap::JsonlSink`.
A change to the surface is then a visible diff in review.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["llmtap", "llmtap-export"]


def rustdoc_json(crate: str) -> dict:
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    subprocess.run(
        ["cargo", "rustdoc", "--quiet", "-p", crate, "--lib", "--all-features", "--",
         "-Z", "unstable-options", "--output-format", "json"],
        cwd=ROOT, env=env, check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return json.loads((target / "doc" / f"{crate.replace('-', '_')}.json").read_text())


def kind_of(item: dict) -> str:
    return next(iter(item["inner"]))


def type_name(ty) -> str:
    """A readable name of a rustdoc type, enough to tell impls apart."""
    if not isinstance(ty, dict):
        return "?"
    if "resolved_path" in ty:
        p = ty["resolved_path"]
        return p.get("path") or p.get("name") or "?"
    if "generic" in ty:
        return ty["generic"]
    if "primitive" in ty:
        return ty["primitive"]
    if "borrowed_ref" in ty:
        return "&" + type_name(ty["borrowed_ref"].get("type"))
    return next(iter(ty), "?")


def api(doc: dict) -> list:
    index = doc["index"]

    def item(i):
        return index.get(str(i))

    # Where a user can name each item: every path from the root, following
    # re-exports; an item reachable by several is listed once, at its shortest.
    paths = {}

    def reach(item_id, path: str, name=None, depth=0):
        it = item(item_id)
        if it is None or depth > 16:
            return
        kind = kind_of(it)
        inner = it["inner"][kind]
        if kind == "use":
            target = inner.get("id")
            if not inner.get("is_glob") and target is not None and item(target) is not None:
                reach(target, path, inner["name"], depth + 1)
            else:
                paths.setdefault(("use", path, inner["name"], inner["source"]), []).append("")
            return
        here = f"{path}::{name or it.get('name')}" if path else (name or it.get("name"))
        paths.setdefault(item_id, []).append(here)
        if kind == "module":
            for child in inner["items"]:
                reach(child, here, None, depth + 1)

    reach(doc["root"], "")
    canonical = {
        k: min(v, key=lambda p: (p.count("::"), p))
        for k, v in paths.items() if not isinstance(k, tuple)
    }
    lines = {f"use {k[1]}::{k[2]} = {k[3]}" for k in paths if isinstance(k, tuple)}
    for item_id, here in canonical.items():
        it = item(item_id)
        kind = kind_of(it)
        inner = it["inner"][kind]
        if item_id == doc["root"]:
            continue
        lines.add(f"{kind} {here}")
        if kind == "struct":
            fields = inner.get("kind", {})
            plain = fields.get("plain") if isinstance(fields, dict) else None
            for f in (plain or {}).get("fields", []):
                fi = item(f)
                if fi is not None:
                    lines.add(f"field {here}::{fi['name']}")
        if kind == "enum":
            for v in inner.get("variants", []):
                vi = item(v)
                if vi is not None:
                    lines.add(f"variant {here}::{vi['name']}")
        if kind == "trait":
            for m in inner.get("items", []):
                mi = item(m)
                if mi is not None:
                    lines.add(f"trait_item {here}::{mi['name']}")
        for impl_id in inner.get("impls", []) if isinstance(inner, dict) else []:
            imp = item(impl_id)
            if imp is None:
                continue
            im = imp["inner"]["impl"]
            if im.get("is_synthetic") or im.get("blanket_impl") is not None:
                continue
            trait = im.get("trait")
            if trait is None:
                for m in im.get("items", []):
                    mi = item(m)
                    if mi is not None and mi.get("visibility") == "public":
                        lines.add(f"method {here}::{mi['name']}")
            else:
                tname = trait.get("path") or trait.get("name") or "?"
                if tname not in IGNORED_TRAITS:
                    lines.add(f"impl {tname} for {here}")
    return sorted(lines)


# Compiler-internal marker traits that derives add; not part of what users rely on.
IGNORED_TRAITS = {"StructuralPartialEq"}


def main() -> int:
    bless = "--bless" in sys.argv[1:]
    failed = False
    for crate in CRATES:
        current = "\n".join(api(rustdoc_json(crate))) + "\n"
        file = ROOT / "crates" / crate / "public-api.txt"
        if bless:
            file.write_text(current)
            print(f"public-api: wrote {file.relative_to(ROOT)} ({current.count(chr(10))} items)")
            continue
        committed = file.read_text() if file.exists() else ""
        if committed != current:
            failed = True
            import difflib
            diff = difflib.unified_diff(
                committed.splitlines(), current.splitlines(),
                f"{file.relative_to(ROOT)} (committed)", f"{crate} (built)", lineterm="")
            print("\n".join(diff))
            print(f"public-api: {crate}'s public API changed; if intended, run "
                  f"`python3 scripts/public-api.py --bless` and commit the file", file=sys.stderr)
        else:
            print(f"public-api: {crate} matches {file.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
