"""Core's whole route table: one line per route, each pointing into its domain.

Layout rules (services/core/README.md says more):
- `platform/` knows no domain: it never imports `sessions`, `accounts`, `oauth`, `admin` or the
  composition modules (`app`, `routes`, `settings`, `cli`).
- A domain imports `platform/` and other domains' public modules (`service.py` and helpers
  such as `accounts/users.py`, `sessions/responses.py`), never another domain's `store.py`
  or handlers (`routes.py`, `pages.py`, `api.py`). tests/unit/test_core_layout.py checks both.
- A handler calls one service method per request; services own transactions; store
  functions take the connection, run SQL and never commit.
- A route's handler is one hop from here (`<domain>/{pages,api,routes}.py`); its SQL is in
  the service it calls and that domain's `store.py`.
"""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING

from aiohttp import web

from authara_contract import routes
from authara_core.accounts.api import AccountApi
from authara_core.accounts.home import AccountHome
from authara_core.accounts.pages import AuthPages
from authara_core.accounts.selfpages import SelfServicePages
from authara_core.accounts.sessions_section import SessionsSection
from authara_core.admin.audit_pages import AuditPages
from authara_core.admin.failures import FailurePages, FailureService
from authara_core.admin.guard import ConsoleGuard
from authara_core.admin.layout import ConsoleLayout
from authara_core.admin.pages import ConsolePages
from authara_core.admin.users import UserPages
from authara_core.allowlist.pages import AllowlistPages
from authara_core.challenges.api import ChallengeApi
from authara_core.challenges.pages import ChallengePages
from authara_core.challenges.views import VerifyPage
from authara_core.oauth.api import GoogleApi
from authara_core.oauth.pages import ProviderLinkPages
from authara_core.oauth.routes import OAuthRoutes
from authara_core.organizations.api import OrganizationApi
from authara_core.organizations.internal import InternalApi
from authara_core.organizations.management_api import ManagementApi
from authara_core.organizations.pages import InvitationPages
from authara_core.passkeys.api import PasskeyApi
from authara_core.passkeys.pages import PasskeyPages
from authara_core.platform import meta
from authara_core.platform.bodies import BodyReader
from authara_core.platform.brand_assets import BrandAssets
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.openapi import PASSKEY_PAGE_SCHEMAS
from authara_core.platform.openapi_internal import INTERNAL_SCHEMAS
from authara_core.platform.render import Renderer
from authara_core.sessions.routes import SessionApi, SessionPages
from authara_core.settings import Settings

if TYPE_CHECKING:  # app.py builds the services and mounts this table
    from authara_core.app import Services


def route_table(
    services: Services,
    settings: Settings,
    *,
    renderer: Renderer,
    cookie_writer: CookieWriter,
    brand_assets: BrandAssets,
) -> list[web.AbstractRouteDef]:
    """Build every handler from the services and list the routes they serve."""
    bodies = BodyReader()
    trust_proxy = settings.trust_proxy_headers
    api_meta = meta.ApiMeta(cookie_writer)
    readiness = meta.Readiness(services.database, settings.database.schema)
    verify_page = VerifyPage(renderer=renderer, cookie_writer=cookie_writer)
    auth_pages = AuthPages(
        accounts=services.accounts,
        sessions=services.sessions,
        challenges=services.challenges,
        verify_page=verify_page,
        cookie_writer=cookie_writer,
        renderer=renderer,
        settings=settings,
    )
    account_api = AccountApi(
        accounts=services.accounts,
        invitations=services.acceptance,
        cookie_writer=cookie_writer,
        bodies=bodies,
        trust_proxy_headers=trust_proxy,
        self_service=services.self_service,
        sessions=services.sessions,
        direct_signup=not settings.challenges.enabled,
    )
    invitation_pages = InvitationPages(
        acceptance=services.acceptance,
        sessions=services.sessions,
        challenges=services.challenges,
        verify_page=verify_page,
        cookie_writer=cookie_writer,
        renderer=renderer,
        settings=settings,
    )
    session_pages = SessionPages(
        sessions=services.sessions,
        cookie_writer=cookie_writer,
        default_return_to=settings.default_return_to,
    )
    session_api = SessionApi(sessions=services.sessions, cookie_writer=cookie_writer, bodies=bodies)
    oauth = OAuthRoutes(
        flows=services.flows,
        sessions=services.sessions,
        cookie_writer=cookie_writer,
        renderer=renderer,
        default_return_to=settings.default_return_to,
        trust_proxy_headers=trust_proxy,
    )
    provider_links = ProviderLinkPages(
        links=services.links,
        oauth=oauth,
        cookie_writer=cookie_writer,
        renderer=renderer,
        trust_proxy_headers=trust_proxy,
    )
    account = AccountHome(
        links=services.links,
        sessions=services.sessions,
        cookie_writer=cookie_writer,
        renderer=renderer,
        back_url=settings.default_return_to,
        email_change=settings.challenges.enabled,
        passkeys=services.passkeys,
    )
    self_pages = SelfServicePages(
        home=account,
        self_service=services.self_service,
        cookie_writer=cookie_writer,
        renderer=renderer,
        trust_proxy_headers=trust_proxy,
    )
    sessions_section = SessionsSection(
        home=account, sessions=services.sessions, cookie_writer=cookie_writer, renderer=renderer
    )
    challenge_pages = ChallengePages(
        challenges=services.challenges,
        sessions=services.sessions,
        verify_page=verify_page,
        cookie_writer=cookie_writer,
        renderer=renderer,
        settings=settings,
    )
    challenge_api = ChallengeApi(
        challenges=services.challenges,
        cookie_writer=cookie_writer,
        bodies=bodies,
        trust_proxy_headers=trust_proxy,
    )
    google_api = GoogleApi(
        google=services.google,
        cookie_writer=cookie_writer,
        bodies=bodies,
        trust_proxy_headers=trust_proxy,
    )
    organization_api = OrganizationApi(
        directory=services.directory, sessions=services.sessions, cookie_writer=cookie_writer
    )
    management_api = ManagementApi(
        management=services.public_management,
        invitations=services.invitations,
        sessions=services.sessions,
        bodies=bodies,
    )
    internal = InternalApi(
        management=services.organization_management,
        invitations=services.invitations,
        bodies=BodyReader(INTERNAL_SCHEMAS),
        token=settings.internal_api_token,
    )
    signed_in = account.signed_in_only  # A(app, refresh): an expired access token is renewed
    passkey_api = PasskeyApi(
        passkeys=services.passkeys,
        sessions=services.sessions,
        cookie_writer=cookie_writer,
        bodies=bodies,
        trust_proxy_headers=trust_proxy,
    )
    passkey_pages = PasskeyPages(
        passkeys=services.passkeys,
        home=account,
        cookie_writer=cookie_writer,
        renderer=renderer,
        bodies=BodyReader(PASSKEY_PAGE_SCHEMAS),
        default_return_to=settings.default_return_to,
        trust_proxy_headers=trust_proxy,
    )
    console_layout = ConsoleLayout(
        renderer=renderer,
        cookie_writer=cookie_writer,
        allowlist_enabled=settings.allowlist_enabled,
        app_url=settings.default_return_to,
    )
    console_pages = ConsolePages(console=services.console, layout=console_layout)
    audit_pages = AuditPages(log=services.audit_log, layout=console_layout, clock=services.clock)
    allowlist_pages = AllowlistPages(allowlist=services.allowlist, layout=console_layout)
    failure_pages = FailurePages(
        failures=FailureService(db=services.database, clock=services.clock), layout=console_layout
    )
    user_pages = UserPages(console=services.console, admin=services.admin, layout=console_layout)
    # A(admin) + a platform role for GET, authara:admin for anything else (admin/guard.py)
    console = ConsoleGuard(
        sessions=services.sessions, cookie_writer=cookie_writer, trust_proxy_headers=trust_proxy
    ).console
    static_dir = importlib.resources.files("authara_core") / "static"
    return [
        web.get(routes.HEALTH, meta.health),
        web.get(routes.READY, readiness.ready),
        web.get(routes.VERSION, meta.version),
        web.get(routes.LOGIN, auth_pages.login_page),
        web.post(routes.LOGIN, auth_pages.login_submit),
        web.get(routes.SIGNUP, auth_pages.signup_page),
        web.post(routes.SIGNUP, auth_pages.signup_submit),
        web.get(routes.INVITATION_ACCEPT, invitation_pages.accept_page),
        web.post(routes.INVITATION_ACCEPT, invitation_pages.accept_submit),
        web.get(routes.INVITATION_SIGNUP, invitation_pages.signup_page),
        web.post(routes.INVITATION_SIGNUP, invitation_pages.signup_submit),
        web.get(routes.INVITATION_LOGIN, invitation_pages.login_page),
        web.post(routes.INVITATION_LOGIN, invitation_pages.login_submit),
        web.get(routes.PASSWORD_RESET, challenge_pages.password_reset_page),
        web.post(routes.PASSWORD_RESET, challenge_pages.password_reset_submit),
        web.get(routes.VERIFY_CHALLENGE, challenge_pages.verify_page),
        web.post(routes.VERIFY_CHALLENGE, challenge_pages.verify_submit),
        web.post(routes.RESEND_CHALLENGE, challenge_pages.resend),
        web.get(routes.EMAIL_CHANGE, challenge_pages.email_change_page),
        web.post(routes.EMAIL_CHANGE, challenge_pages.email_change_submit),
        web.post(routes.LOGOUT, session_pages.logout),
        web.post(routes.LOGOUT_ALIAS, session_pages.logout),
        web.post(routes.REFRESH, session_pages.refresh),
        web.get(routes.API_CSRF, api_meta.csrf),
        web.post(routes.API_LOGIN, account_api.login),
        web.post(routes.API_SIGNUP_DIRECT, account_api.signup_direct),
        web.post(routes.API_SIGNUP_CHALLENGES, challenge_api.signup_start),
        web.post(routes.API_SIGNUP_CHALLENGE_VERIFY, challenge_api.signup_verify),
        web.post(routes.API_PASSWORD_RESET_CHALLENGES, challenge_api.password_reset_start),
        web.post(routes.API_PASSWORD_RESET_CHALLENGE_VERIFY, challenge_api.password_reset_verify),
        web.post(routes.API_CHALLENGE_RESEND, challenge_api.resend),
        web.post(routes.API_LOGOUT, session_api.logout),
        web.post(routes.API_SESSIONS_REFRESH, session_api.sessions_refresh),
        web.post(routes.API_TOKENS_REFRESH, session_api.tokens_refresh),
        web.get(routes.API_USER, session_api.user),
        web.get(routes.API_SESSIONS, session_api.sessions_list),
        web.delete(routes.API_SESSION, session_api.session_revoke),
        web.post(routes.API_SESSIONS_REVOKE_OTHERS, session_api.sessions_revoke_others),
        web.get(routes.API_OPENAPI, api_meta.openapi),
        web.get(routes.OAUTH_START, oauth.start),
        web.get(routes.OAUTH_CALLBACK, oauth.callback),
        web.post(routes.OAUTH_LINK, oauth.link),
        web.get(routes.PROVIDER_LINK_CONFIRM, provider_links.confirm_page),
        web.post(routes.PROVIDER_LINK_CONFIRM, provider_links.confirm_submit),
        web.get(routes.ACCOUNT, signed_in(account.account_page)),
        web.post(routes.PROVIDER_UNLINK, signed_in(account.unlink)),
        web.post(routes.USERNAME_CHANGE, signed_in(self_pages.username)),
        web.get(routes.PASSWORD_CHANGE, signed_in(self_pages.password_page)),
        web.post(routes.PASSWORD_CHANGE, signed_in(self_pages.password_change)),
        web.get(routes.PASSWORD_ADD, signed_in(self_pages.password_page)),
        web.post(routes.PASSWORD_LINK, signed_in(self_pages.password_link)),
        web.post(routes.ACCOUNT_DELETE, signed_in(self_pages.delete)),
        web.get(routes.ACCOUNT_DELETED, self_pages.deleted_page),
        web.put(routes.API_USER_PASSWORD, account_api.set_password),
        web.post(routes.SESSION_REVOKE, signed_in(sessions_section.revoke)),
        web.post(routes.SESSIONS_REVOKE_OTHER, signed_in(sessions_section.revoke_other)),
        web.get(routes.PASSKEY_SETUP, signed_in(passkey_pages.setup_page)),
        web.post(routes.PASSKEY_AUTHENTICATE_OPTIONS, passkey_pages.authenticate_options),
        web.post(routes.PASSKEY_AUTHENTICATE_FINISH, passkey_pages.authenticate_finish),
        web.post(routes.PASSKEY_REGISTER_OPTIONS, signed_in(passkey_pages.register_options)),
        web.post(routes.PASSKEY_REGISTER_FINISH, signed_in(passkey_pages.register_finish)),
        web.post(routes.PASSKEY_DELETE, signed_in(passkey_pages.delete)),
        web.post(routes.PASSKEY_RENAME, signed_in(passkey_pages.rename)),
        web.post(routes.API_PASSKEY_AUTHENTICATE_OPTIONS, passkey_api.authenticate_options),
        web.post(routes.API_PASSKEY_AUTHENTICATE_FINISH, passkey_api.authenticate_finish),
        web.post(routes.API_PASSKEY_REGISTER_OPTIONS, passkey_api.register_options),
        web.post(routes.API_PASSKEY_REGISTER_FINISH, passkey_api.register_finish),
        web.get(routes.API_PASSKEYS, passkey_api.list),
        web.patch(routes.API_PASSKEY, passkey_api.rename),
        web.delete(routes.API_PASSKEY, passkey_api.delete),
        web.get(routes.API_GOOGLE_OPTIONS, google_api.options),
        web.post(routes.API_GOOGLE_LOGIN, google_api.login),
        web.get(routes.API_CAPABILITIES, organization_api.capabilities),
        web.get(routes.API_ORGANIZATIONS, organization_api.organizations),
        web.get(routes.API_ORGANIZATION_CURRENT, organization_api.current),
        web.get(routes.API_ORGANIZATION_MEMBERS, organization_api.members),
        web.post(routes.API_ORGANIZATION_SWITCH, organization_api.switch),
        web.get(routes.API_ORGANIZATION, management_api.organization),
        web.patch(routes.API_ORGANIZATION, management_api.rename),
        web.get(routes.API_ORGANIZATION_MEMBER_LIST, management_api.members),
        web.get(routes.API_ORGANIZATION_MEMBER, management_api.member),
        web.get(routes.API_USER_MEMBERSHIPS, management_api.memberships),
        web.get(routes.API_ORGANIZATION_INVITATIONS, management_api.invitations),
        web.get(routes.API_ORGANIZATION_INVITATION, management_api.invitation),
        web.post(routes.API_ORGANIZATION_INVITATION_REVOKE, management_api.revoke_invitation),
        web.get(routes.INTERNAL_OPENAPI, api_meta.internal_openapi),
        web.post(routes.INTERNAL_ORGANIZATIONS, internal.create_organization),
        web.delete(routes.INTERNAL_ORGANIZATION, internal.delete_organization),
        web.delete(routes.INTERNAL_MEMBER, internal.remove_member),
        web.post(routes.INTERNAL_OWNERSHIP_TRANSFER, internal.transfer_ownership),
        web.delete(routes.INTERNAL_USER, internal.delete_user),
        web.post(routes.INTERNAL_INVITATIONS, internal.create_invitation),
        web.post(routes.INTERNAL_INVITATION_RESEND, internal.resend_invitation),
        web.get(routes.ADMIN_DASHBOARD, console(console_pages.dashboard)),
        web.get(routes.ADMIN_DASHBOARD_SLASH, console(console_pages.dashboard)),
        web.get(routes.ADMIN_AUDIT, console(audit_pages.page)),
        web.get(routes.ADMIN_AUDIT_EXPORT_CSV, console(audit_pages.export_csv)),
        web.get(routes.ADMIN_AUDIT_EXPORT_JSONL, console(audit_pages.export_jsonl)),
        web.get(routes.ADMIN_USERS, console(user_pages.list_page)),
        web.get(routes.ADMIN_USERS_SEARCH, console(user_pages.results)),
        web.get(routes.ADMIN_USER, console(user_pages.detail_page)),
        web.post(routes.ADMIN_USER_DISABLE, console(user_pages.disable)),
        web.post(routes.ADMIN_USER_ENABLE, console(user_pages.enable)),
        web.post(routes.ADMIN_USER_ROLE_GRANT, console(user_pages.grant_role)),
        web.post(routes.ADMIN_USER_ROLE_REVOKE, console(user_pages.revoke_role)),
        web.post(routes.ADMIN_USER_SESSION_REVOKE, console(user_pages.revoke_session)),
        web.post(routes.ADMIN_USER_SESSIONS_REVOKE, console(user_pages.revoke_sessions)),
        web.post(routes.ADMIN_USER_PASSWORD_RESET, console(user_pages.password_reset)),
        web.get(routes.ADMIN_ALLOWLIST, console(allowlist_pages.page)),
        web.get(routes.ADMIN_ALLOWLIST_RESULTS, console(allowlist_pages.results)),
        web.post(routes.ADMIN_ALLOWLIST, console(allowlist_pages.add)),
        web.post(routes.ADMIN_ALLOWLIST_IMPORT, console(allowlist_pages.import_emails)),
        web.get(routes.ADMIN_ALLOWLIST_DELETE, console(allowlist_pages.confirm_remove)),
        web.post(routes.ADMIN_ALLOWLIST_DELETE, console(allowlist_pages.remove)),
        web.get(routes.ADMIN_FAILURES, console(failure_pages.page)),
        web.post(routes.ADMIN_FAILURE_EMAIL_RETRY, console(failure_pages.retry_email)),
        web.post(routes.ADMIN_FAILURE_WEBHOOK_RETRY, console(failure_pages.retry_webhook)),
        web.get(routes.BRAND_CSS, brand_assets.stylesheet),
        web.get(routes.BRAND_FILE, brand_assets.file),
        web.static(routes.STATIC_PREFIX, str(static_dir)),
    ]
