"""The image rehearsal on a small Dockerfile: what it runs, keeps, re-roots and refuses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.deploy.dockerfile import parse_dockerfile
from tests.deploy.rehearsal import Image, RehearsalError, rehearse

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.11.14-slim-bookworm AS build
ENV VIRTUAL_ENV=/opt/app \\
    MARKER=built
WORKDIR /src
COPY pkg pkg
RUN --mount=type=cache,target=/root/.cache/tool \\
    test ! -e pkg/secret.txt \\
    && test ! -e pkg/__pycache__ \\
    && mkdir -p "$VIRTUAL_ENV/bin" \\
    && python -c 'import sys; print(sys.executable)' > "$VIRTUAL_ENV/python.txt" \\
    && cp pkg/tool.sh "$VIRTUAL_ENV/bin/tool" && chmod +x "$VIRTUAL_ENV/bin/tool" \\
    && echo "$MARKER" > "$HOME/.cache/tool/seen"

FROM python:3.11.14-slim-bookworm
ARG VERSION=1.2.3
LABEL org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid 10001 app
COPY --from=build /opt/app /opt/app
ENV PATH=/opt/app/bin:$PATH \\
    GREETING="hello world" \\
    URL=http://example.org:80/x
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=1s CMD ["tool", "health"]
ENTRYPOINT ["tool"]
CMD ["serve"]
"""
TOOL = '#!/bin/sh\necho "$1 $GREETING $URL"\n'


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "context"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "tool.sh").write_text(TOOL)
    (root / "pkg" / "secret.txt").write_text("not for images")
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
    (root / ".dockerignore").write_text("**/__pycache__\npkg/secret.txt\n")
    return root


def _rehearse(context: Path, tmp_path: Path, text: str = DOCKERFILE) -> Image:
    path = tmp_path / "app.Dockerfile"
    path.write_text(textwrap.dedent(text))
    return rehearse(
        parse_dockerfile(path),
        "app",
        context=context,
        workspace=tmp_path / "images",
        python=Path(sys.executable),
        cache_dir=tmp_path / "cache",
        host_environ={},
    )


def test_the_build_runs_and_the_image_runs_its_entrypoint(context: Path, tmp_path: Path) -> None:
    image = _rehearse(context, tmp_path)

    argv = image.argv()
    result = subprocess.run(argv, env=image.env, capture_output=True, text=True, check=True)

    assert argv[0] == str(image.root / "opt" / "app" / "bin" / "tool")
    assert result.stdout == "serve hello world http://example.org:80/x\n"
    assert image.healthcheck == ["tool", "health"]
    assert image.user == "10001:10001"
    assert image.exposed == (8000,)
    assert image.labels == {"org.opencontainers.image.version": "1.2.3"}
    assert (image.root / "opt" / "app" / "python.txt").read_text().strip() != ""
    assert (tmp_path / "cache" / "root_.cache_tool" / "seen").read_text() == "built\n"


def test_the_final_stage_holds_only_what_it_copies(context: Path, tmp_path: Path) -> None:
    image = _rehearse(context, tmp_path)

    assert sorted(path.name for path in image.root.iterdir()) == ["opt"]
    assert not (image.root / "src").exists()


def test_overrides_replace_entrypoint_and_command(context: Path, tmp_path: Path) -> None:
    image = _rehearse(context, tmp_path)

    assert image.argv(command=["migrate"])[1:] == ["migrate"]
    with pytest.raises(RehearsalError, match="not on the image's PATH"):
        image.argv(entrypoint=["missing-tool"])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('mkdir -p "$VIRTUAL_ENV/bin"', "mkdir -p /opt/app/bin", "absolute path /opt/app/bin"),
        (
            "COPY --from=build /opt/app /opt/app",
            "COPY --from=build /opt/app /usr/app",
            "keep the absolute path",
        ),
        ("&& useradd", "&& apt-get install -y curl && useradd", "only create the runtime user"),
        (
            "RUN --mount=type=cache,target=/root/.cache/tool",
            "RUN --network=host",
            "cannot rehearse RUN --network",
        ),
        ("test ! -e pkg/secret.txt", "test -e pkg/secret.txt", "failed with 1"),
        ("COPY pkg pkg", "COPY ../outside pkg", "not in the build context"),
        ('CMD ["serve"]', "CMD serve", "shell-form CMD"),
        ("EXPOSE 8000", "VOLUME /data", "cannot rehearse in the final stage"),
    ],
)
def test_what_cannot_be_rehearsed_faithfully_is_refused(
    context: Path, tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in DOCKERFILE

    with pytest.raises(RehearsalError, match=message):
        _rehearse(context, tmp_path, DOCKERFILE.replace(old, new))
