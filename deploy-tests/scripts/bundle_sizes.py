#!/usr/bin/env python3
"""Checks what `sam build` produced: one arm64 `bootstrap` per function, zipped under a limit.

SAM zips each function's build folder at `sam package`/`sam deploy` time (deflate); this
zips the same bytes the same way, so the figure is what Lambda receives. Exits non-zero,
naming the function, when a bootstrap is missing, is not an aarch64 ELF, or its zip is
over the limit.
"""
import io
import os
import sys
import zipfile

BUILD = os.environ.get("SAM_BUILD_DIR", ".aws-sam/build")
LIMIT = int(os.environ.get("BUNDLE_LIMIT_BYTES", str(5 * 1024 * 1024)))
FUNCTIONS = ["WebhookFunction", "ConnectFunction", "OptOutFunction", "ReconcileFunction"]
EM_AARCH64 = 183


def check(name: str) -> str | None:
    path = os.path.join(BUILD, name, "bootstrap")
    try:
        data = open(path, "rb").read()
    except OSError as e:
        return f"{name}: no bootstrap at {path} ({e.strerror}); did `sam build` run?"
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != EM_AARCH64:
        return f"{name}: {path} is not an aarch64 ELF executable"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    size = buf.tell()
    print(f"  {name:<16} bootstrap {len(data) / 2**20:5.2f} MiB, zipped {size / 2**20:5.2f} MiB"
          f" (limit {LIMIT / 2**20:.2f} MiB)")
    if size > LIMIT:
        return f"{name}: zip is {size} bytes, over the {LIMIT}-byte limit"
    return None


def main() -> int:
    errors = [e for e in (check(f) for f in FUNCTIONS) if e]
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
