"""A docker-archive tarball (what `ctr images import` reads) of one static binary as /pause:
the sandbox image of deploy/cluster.sh's cluster, built here because no registry is reachable.

    python3 pause-image.py BINARY IMAGE_NAME OUT.tar
"""

import hashlib
import io
import json
import sys
import tarfile


def member(name: str, data: bytes, mode: int) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    return info, io.BytesIO(data)


def main(binary: str, image: str, out: str) -> None:
    with open(binary, "rb") as f:
        program = f.read()
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        layer.addfile(*member("pause", program, 0o755))
    layer_bytes = layer_buffer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [image], "Layers": [f"{diff_id}/layer.tar"]}]
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(*member(f"{diff_id}/layer.tar", layer_bytes, 0o644))
        archive.addfile(*member(config_name, config, 0o644))
        archive.addfile(*member("manifest.json", json.dumps(manifest).encode(), 0o644))


if __name__ == "__main__":
    main(*sys.argv[1:])
