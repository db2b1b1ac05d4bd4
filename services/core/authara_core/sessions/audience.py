"""Which token audience a sign-in asks for, from where the user is going (upstream §4)."""

from authara_contract.claims import Audience


def audience_for(return_to: str) -> Audience:
    """Return `admin` for return targets under /admin, else `app`."""
    return Audience.ADMIN if return_to.startswith("/admin") else Audience.APP
