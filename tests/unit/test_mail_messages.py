"""Mail messages: upstream's subjects, multipart text + HTML, headers that cannot be injected."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from authara_core.mail.messages import MessageBuilder, MessageError, subject_for
from authara_core.mail.outbox import MailTemplate
from tests.mailsupport import parts

NOW = datetime(2026, 12, 3, 17, 40, tzinfo=UTC)
INVITATION = {
    "organization_name": "Acme",
    "role": "member",
    "invite_url": "https://auth.example.com/auth/invitations/accept?token=t0k&x=1",
    "expires_at": "2026-12-10T17:40:00Z",
}


def _build(
    template: MailTemplate, context: dict[str, object], to: str = "a@example.com"
) -> EmailMessage:
    message = MessageBuilder("Authara <no-reply@example.com>").build(template, to, context, NOW)
    # What a receiving server parses from the bytes sent.
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize(
    ("template", "subject"),
    [
        (MailTemplate.SIGNUP_CODE, "Your verification code"),
        (MailTemplate.PASSWORD_RESET_CODE, "Your password reset code"),
        (MailTemplate.EMAIL_CHANGE_CODE, "Verify your new email address"),
    ],
)
def test_code_mails_carry_the_code_in_both_parts(template: MailTemplate, subject: str) -> None:
    message = _build(template, {"code": "004211", "expires_in_minutes": 10})

    assert message["Subject"] == subject
    assert message["From"] == "Authara <no-reply@example.com>"
    assert message["To"] == "a@example.com"
    assert message["Date"] == "Thu, 03 Dec 2026 17:40:00 +0000"
    assert message["Message-ID"].endswith("@example.com>")
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert "004211" in text and "expires in 10 minutes" in text
    assert "004211" in html and f"<title>{subject}</title>" in html


def test_a_code_mail_without_an_expiry_leaves_the_sentence_out() -> None:
    text = parts(_build(MailTemplate.SIGNUP_CODE, {"code": "123456"}))["text/plain"]
    assert "123456" in text
    assert "expires" not in text


def test_the_invitation_shows_organization_role_link_and_expiry() -> None:
    message = _build(MailTemplate.ORGANIZATION_INVITATION, INVITATION)

    assert message["Subject"] == "You're invited to Acme"
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert "join Acme as a member" in text
    assert INVITATION["invite_url"] in text
    assert "10 December 2026, 17:40 UTC" in text
    assert 'href="https://auth.example.com/auth/invitations/accept?token=t0k&amp;x=1"' in html
    assert "Invitation code" not in html


def test_an_organization_name_cannot_add_a_header() -> None:
    context = INVITATION | {"organization_name": "Acme\r\nBcc: eve@example.com"}
    message = _build(MailTemplate.ORGANIZATION_INVITATION, context)

    assert message["Subject"] == "You're invited to Acme Bcc: eve@example.com"
    assert message["Bcc"] is None


@pytest.mark.parametrize(
    "to",
    [
        "a@example.com\r\nBcc: eve@example.com",
        "a@example.com\nX: y",
        "a@example.com, b@example.com",
        "nobody",
    ],
)
def test_a_recipient_that_is_not_one_clean_address_is_refused(to: str) -> None:
    builder = MessageBuilder("no-reply@example.com")
    with pytest.raises(MessageError):
        builder.build(MailTemplate.SIGNUP_CODE, to, {"code": "123456"}, NOW)


def test_a_missing_template_value_is_an_error_not_an_empty_mail() -> None:
    with pytest.raises(MessageError, match="signup_code"):
        MessageBuilder("no-reply@example.com").build(
            MailTemplate.SIGNUP_CODE, "a@example.com", {}, NOW
        )


def test_subjects_are_cut_to_a_sane_length() -> None:
    subject = subject_for(MailTemplate.ORGANIZATION_INVITATION, {"organization_name": "x" * 500})
    assert len(subject) == 200
