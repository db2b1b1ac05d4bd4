"""The users table as other domains see it: the row type and the queries they may run.

Sessions, OAuth and admin read users and change roles inside their own transactions, so
they take a connection like the store functions they are; this module is the list of what
is public, and the rest of `accounts.store` stays the accounts domain's own.
"""

from authara_core.accounts.store import (
    PASSWORD_PROVIDER,
    UserRow,
    delete_user,
    find_user_id_by_email,
    get_password_hash,
    get_role_names,
    get_user,
    get_user_by_email,
    get_user_with_roles,
    grant_role,
    keep_user,
    list_role_holders,
    lock_active_admins,
    lock_user,
    lock_user_for_change,
    revoke_role,
    set_disabled,
    set_password_hash,
)

__all__ = [
    "PASSWORD_PROVIDER",
    "UserRow",
    "delete_user",
    "find_user_id_by_email",
    "get_password_hash",
    "get_role_names",
    "get_user",
    "get_user_by_email",
    "get_user_with_roles",
    "grant_role",
    "keep_user",
    "list_role_holders",
    "lock_active_admins",
    "lock_user",
    "lock_user_for_change",
    "revoke_role",
    "set_disabled",
    "set_password_hash",
]
