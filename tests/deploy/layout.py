"""Where the deployment files live and which image runs which service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from authara_contract.env import Service

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DOCKER_DIR: Final = REPO_ROOT / "deploy" / "docker"
DOCKERIGNORE: Final = REPO_ROOT / ".dockerignore"
COMPOSE_DIR: Final = REPO_ROOT / "deploy" / "compose"
COMPOSE_FILE: Final = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE: Final = COMPOSE_DIR / ".env.example"
K8S_DIR: Final = REPO_ROOT / "deploy" / "k8s"
K8S_BASE: Final = K8S_DIR / "base"
K8S_OVERLAYS: Final = tuple(
    sorted(path for path in (K8S_DIR / "overlays").iterdir() if path.is_dir())
)
OPERATIONS_DOC: Final = REPO_ROOT / "docs" / "operations.md"

# Kubernetes versions the manifests must validate against: the oldest we support, the newest
# schema kubernetes-validate ships.
K8S_VERSIONS: Final = ("1.30.0", "1.37.0")
# Demo-app variables (read by authara_demo, not in the contract table).
DEMO_VARS: Final = frozenset({"DEMO_BIND", "AUTHARA_BASE_URL"})


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image: its Dockerfile, the package folder it installs and the program it runs."""

    name: str
    package_dir: str
    program: str
    service: Service | None
    port: int | None
    # The shared packages the image installs beside its own (the contract, the runtime).
    shared: tuple[str, ...] = ("shared", "shared/runtime")

    @property
    def dockerfile(self) -> Path:
        """Return the Dockerfile's path."""
        return DOCKER_DIR / f"{self.name}.Dockerfile"

    @property
    def image(self) -> str:
        """Return the image name compose and the manifests use."""
        return f"authara-{self.name}"


CORE: Final = ImageSpec("core", "services/core", "authara-core", Service.CORE, 8080)
GATEWAY: Final = ImageSpec("gateway", "services/gateway", "authara-gateway", Service.GATEWAY, 3000)
MIGRATIONS: Final = ImageSpec(
    "migrations", "services/migrations", "authara-migrate", Service.MIGRATIONS, None
)
# The demo app stands in for the user's application in compose; it is not a product image.
DEMO: Final = ImageSpec("demo", "examples/demo", "authara-demo", None, 8000, shared=("shared",))

PRODUCT_IMAGES: Final = (CORE, GATEWAY, MIGRATIONS)
ALL_IMAGES: Final = (*PRODUCT_IMAGES, DEMO)
BY_IMAGE: Final = {spec.image: spec for spec in ALL_IMAGES}
