"""Dev-only pages listing the mail the sink caught: /_dev/mail (HTML), /_dev/mail.json.

Mounted on the dev stack's demo app (dev_app.py), so the browser reads them through the
gateway at the stack's own address. Nothing here is in core or in any image.
"""

from __future__ import annotations

import html
from typing import Final

from aiohttp import web

from .mail_folder import CaughtMail, MailFolder

MAIL_PATH: Final = "/_dev/mail"
FOLDER_KEY: Final = web.AppKey("dev_mail_folder", MailFolder)
_NO_STORE: Final = {"Cache-Control": "no-store"}
# A caught mail's HTML is shown as its own document: no scripts, nothing loaded.
_MAIL_CSP: Final = (
    "sandbox allow-popups; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
)
_STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#18181b}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e4e4e7;padding:.5rem;text-align:left}
.code{font-family:ui-monospace,monospace;font-size:1.25rem;font-weight:700;letter-spacing:.15em}
pre{white-space:pre-wrap;background:#f4f4f5;padding:1rem;border-radius:6px}
td{overflow-wrap:anywhere}
@media (max-width:40rem){
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
table,caption,tbody,tr,td{display:block}
caption{text-align:left}
tr{border-bottom:1px solid #e4e4e7;padding:.5rem 0}
td{border:0;padding:.15rem 0}
td::before{content:attr(data-label) ": ";font-weight:600}
}
"""


def _page(title: str, body: str) -> web.Response:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return web.Response(text=document, content_type="text/html", headers=_NO_STORE)


def _row(mail: CaughtMail) -> str:
    code = f'<span class="code">{html.escape(mail.code)}</span>' if mail.code else ""
    return (
        f'<tr><td data-label="Received">{html.escape(mail.date)}</td>'
        f'<td data-label="To">{html.escape(mail.to)}</td>'
        f'<td data-label="Subject"><a href="{MAIL_PATH}/{html.escape(mail.id)}">'
        f"{html.escape(mail.subject)}</a></td>"
        f'<td data-label="Code">{code}</td></tr>'
    )


async def mail_list(request: web.Request) -> web.Response:
    """List every caught mail, newest first."""
    mails = request.app[FOLDER_KEY].all()
    if not mails:
        content = "<p>No mail yet. Mail core sends in this dev stack shows up here.</p>"
    else:
        rows = "".join(_row(mail) for mail in mails)
        content = (
            "<table><caption>Newest first</caption><thead><tr><th scope=col>Received</th>"
            "<th scope=col>To</th><th scope=col>Subject</th><th scope=col>Code</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    heading = "<h1>Caught mail</h1><p>Nothing here was delivered: the dev stack keeps it.</p>"
    return _page("Caught mail", heading + content)


async def mail_json(request: web.Request) -> web.Response:
    """List every caught mail as JSON (for scripts and browser tests)."""
    mails = request.app[FOLDER_KEY].all()
    body = [
        {
            "id": mail.id,
            "to": mail.to,
            "subject": mail.subject,
            "date": mail.date,
            "code": mail.code,
            "link": mail.link,
            "text": mail.text,
        }
        for mail in mails
    ]
    return web.json_response(body, headers=_NO_STORE)


def _found(request: web.Request) -> CaughtMail:
    mail = request.app[FOLDER_KEY].get(request.match_info["mail_id"])
    if mail is None:
        raise web.HTTPNotFound(text="no such mail")
    return mail


async def mail_view(request: web.Request) -> web.Response:
    """Show one mail: its headers, its code, its text; the HTML version one click away."""
    mail = _found(request)
    code = f'<p>Code: <span class="code">{html.escape(mail.code)}</span></p>' if mail.code else ""
    link = f'<p><a href="{html.escape(mail.link)}">Open the link</a></p>' if mail.link else ""
    html_link = f'<p><a href="{MAIL_PATH}/{mail.id}/html">HTML version</a></p>' if mail.html else ""
    body = (
        f'<p><a href="{MAIL_PATH}">All mail</a></p><h1>{html.escape(mail.subject)}</h1>'
        f"<dl><dt>To</dt><dd>{html.escape(mail.to)}</dd>"
        f"<dt>Date</dt><dd>{html.escape(mail.date)}</dd></dl>"
        f"{code}{link}{html_link}<pre>{html.escape(mail.text)}</pre>"
    )
    return _page(mail.subject, body)


async def mail_html(request: web.Request) -> web.Response:
    """Serve a mail's HTML part as it is, sandboxed."""
    mail = _found(request)
    if mail.html is None:
        raise web.HTTPNotFound(text="this mail has no HTML part")
    headers = {**_NO_STORE, "Content-Security-Policy": _MAIL_CSP}
    return web.Response(text=mail.html, content_type="text/html", headers=headers)


def add_mail_pages(app: web.Application, folder: MailFolder) -> None:
    """Mount the pages on `app`, reading `folder`."""
    app[FOLDER_KEY] = folder
    app.router.add_get(MAIL_PATH, mail_list)
    app.router.add_get(f"{MAIL_PATH}.json", mail_json)
    app.router.add_get(f"{MAIL_PATH}/{{mail_id}}", mail_view)
    app.router.add_get(f"{MAIL_PATH}/{{mail_id}}/html", mail_html)
