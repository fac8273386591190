"""Rendering an e-mail: Jinja2 templates (HTML and text) with the brand, and the card's code
as text and as a QR code attached inline (``cid:``, which mail clients show; data: URLs they
block)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import segno
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_TEMPLATES = Environment(
    loader=PackageLoader("omnigift.mail", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
SUBJECTS = {  # {held}: "gift card", or "store credit" for an e-mail about a wallet
    "refund_issued": "Your refund from {brand}",
    "bonus_granted": "A bonus from {brand}",
    "card_delivered": "Your {brand} gift card",
    "expiry_reminder": "Your {brand} {held} expires soon",
    "balance_reminder": "You still have value on your {brand} {held}",
}
QR_CID = "card-code-qr"


@dataclass(frozen=True)
class Brand:
    name: str
    color: str
    logo_url: str | None
    balance_url: str | None  # where a customer checks a balance


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    images: dict[str, bytes] = field(default_factory=dict)  # cid -> PNG


def render(kind: str, context: dict[str, Any], brand: Brand) -> Rendered:
    """The message of ``kind`` for this context (``context["card"]["code"]`` when it shows a
    card's code: it is then also drawn as a QR code)."""
    held = "store credit" if context.get("store_credit") else "gift card"
    values = {**context, "brand": brand, "qr_cid": QR_CID, "held": held}
    rendered = Rendered(
        subject=SUBJECTS[kind].format(brand=brand.name, held=held),
        text=_TEMPLATES.get_template(f"{kind}.txt").render(values),
        html=_TEMPLATES.get_template(f"{kind}.html").render(values),
    )
    code = (context.get("card") or {}).get("code")
    if code:
        rendered.images[QR_CID] = qr_png(code)
    return rendered


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text.replace(" ", ""), error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()
