"""Which token audience a sign-in asks for, from where the user is going (upstream §4)."""

from authara_contract.claims import Audience
from authara_contract.routes import is_admin_path


def audience_for(return_to: str) -> Audience:
    """Return `admin` for return targets under /admin or the console (/auth/admin), else `app`.

    Upstream only knows `/admin…` (its console is mounted elsewhere); our console lives under
    /auth/admin, so a sign-in on its way there asks for the admin audience too (docs/admin.md).
    """
    if return_to.startswith("/admin") or is_admin_path(return_to):
        return Audience.ADMIN
    return Audience.APP
