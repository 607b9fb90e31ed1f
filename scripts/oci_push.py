#!/usr/bin/env python3
"""Push an OCI image layout written by `make oci` to a registry, byte for byte.

    oci_push.py <layout-dir> <tag> <registry>/<repository>[:tag] [--insecure]

The manifest is sent as the exact bytes in the layout, so the digest the
registry serves equals dist/oci/<plugin>.digest, which the WasmPlugin `sha256`
pins. Auth, blob upload and retries come from the ORAS Python SDK (`oras`,
installed in .venv by scripts/bootstrap.sh); credentials from `docker login`
(~/.docker/config.json) or ORAS_USER/ORAS_PASS.
"""
import hashlib
import json
import os
import sys

import oras.container
import oras.provider


def blob_path(layout, digest):
    algo, hexdigest = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexdigest)


def manifest_for(layout, tag):
    with open(os.path.join(layout, "index.json"), "rb") as f:
        index = json.load(f)
    for m in index.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    sys.exit(f"oci_push: {layout} has no manifest tagged {tag}")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 3:
        sys.exit(__doc__)
    layout, tag, ref = args
    insecure = "--insecure" in argv
    desc = manifest_for(layout, tag)
    with open(blob_path(layout, desc["digest"]), "rb") as f:
        raw = f.read()
    if "sha256:" + hashlib.sha256(raw).hexdigest() != desc["digest"]:
        sys.exit(f"oci_push: manifest blob of {layout} does not match its digest")
    manifest = json.loads(raw)

    registry = oras.provider.Registry(hostname=ref.split("/", 1)[0], insecure=insecure)
    user, password = os.environ.get("ORAS_USER"), os.environ.get("ORAS_PASS")
    if user and password:
        registry.login(username=user, password=password)
    target = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:{tag}"
    container = registry.get_container(target)

    for blob in [manifest["config"], *manifest["layers"]]:
        response = registry.upload_blob(blob_path(layout, blob["digest"]), container, blob)
        if response.status_code not in (200, 201, 202):
            sys.exit(f"oci_push: blob {blob['digest']}: HTTP {response.status_code} {response.text[:200]}")

    url = f"{registry.prefix}://{container.manifest_url()}"
    response = registry.do_request(url, "PUT", headers={"Content-Type": manifest["mediaType"]}, data=raw)
    if response.status_code not in (200, 201):
        sys.exit(f"oci_push: manifest: HTTP {response.status_code} {response.text[:200]}")
    served = response.headers.get("Docker-Content-Digest", desc["digest"])
    if served != desc["digest"]:
        sys.exit(f"oci_push: registry stored {served}, layout has {desc['digest']}")
    print(f"{target}  {desc['digest']}")


if __name__ == "__main__":
    main(sys.argv[1:])
