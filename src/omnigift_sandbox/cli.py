"""``omnigift sandbox <platform>``: run a platform simulator alone, for a demo or a manual try.

Credentials default to obvious sandbox values (the simulator holds no real money); set them to
what you give the integration (``POST /v1/integrations``).
"""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(
    help="Platform simulators on loopback (faithful to the platforms' documented APIs).",
    no_args_is_help=True,
)

HOST = typer.Option("127.0.0.1", help="Address to listen on.")


@sandbox_app.command("shopify")
def shopify(
    port: int = typer.Option(8101, help="Port to listen on."),
    host: str = HOST,
    access_token: str = typer.Option("shpat_sandbox", help="X-Shopify-Access-Token it accepts."),
    client_secret: str = typer.Option("sandbox-secret", help="Signs its webhooks (HMAC)."),
    shop_domain: str = typer.Option("demo.myshopify.com"),
    currency: str = typer.Option("USD"),
) -> None:
    """A Shopify shop: GraphQL gift cards, REST orders and webhooks, a checkout at /__sim/."""
    from omnigift_sandbox.shopify.app import serve
    from omnigift_sandbox.shopify.config import ShopifyConfig

    typer.echo(f"Shopify simulator on http://{host}:{port} (control plane: /__sim/)")
    serve(
        host,
        port,
        ShopifyConfig(
            access_token=access_token,
            client_secret=client_secret,
            shop_domain=shop_domain,
            currency=currency,
        ),
    )


@sandbox_app.command("bigcommerce")
def bigcommerce(
    port: int = typer.Option(8102, help="Port to listen on."),
    host: str = HOST,
    access_token: str = typer.Option("bc_sandbox", help="X-Auth-Token it accepts."),
    client_secret: str = typer.Option("sandbox-secret", help="Signs its webhooks."),
    store_hash: str = typer.Option("abc123"),
    currency: str = typer.Option("USD"),
) -> None:
    """A BigCommerce store: v2 gift certificates, orders, v3 hooks, a checkout at /__sim/."""
    from omnigift_sandbox.bigcommerce.app import serve
    from omnigift_sandbox.bigcommerce.config import BigCommerceConfig

    typer.echo(
        f"BigCommerce simulator on http://{host}:{port}/stores/{store_hash} "
        "(control plane: /__sim/)"
    )
    serve(
        host,
        port,
        BigCommerceConfig(
            access_token=access_token,
            client_secret=client_secret,
            store_hash=store_hash,
            currency=currency,
        ),
    )


@sandbox_app.command("pos")
def pos(
    operation: str = typer.Argument(
        ..., help="balance | activate | load | redeem | capture | reverse | catch-up"
    ),
    args: list[str] = typer.Argument(None, help="CODE [AMOUNT] | TRANSACTION_ID [AMOUNT]"),
    url: str = typer.Option("http://127.0.0.1:8000", help="The Omnigift service."),
    key: str = typer.Option(..., envvar="OMNIGIFT_TILL_KEY", help="A till key bound to a store."),
    terminal: str = typer.Option("till-1", help="This terminal's id."),
    cashier: str = typer.Option(None, help="The cashier's id."),
    journal: str = typer.Option(
        "till-journal.json", help="Where the till keeps its counter and offline queue."
    ),
    offline: bool = typer.Option(False, help="The till is offline: keep redemptions for later."),
) -> None:
    """A till: one tender operation per call, amounts in minor units (cents)."""
    import json
    from pathlib import Path

    from omnigift_sandbox.pos.till import Declined, Till

    till = Till(url, key, terminal, cashier, Path(journal), offline=offline)
    values = list(args or [])
    amount = int(values[1]) if len(values) > 1 else None
    calls = {
        "balance": lambda: till.balance(values[0]),
        "activate": lambda: till.activate(values[0], amount or 0),
        "load": lambda: till.load(values[0], amount or 0),
        "redeem": lambda: till.redeem(values[0], amount or 0),
        "capture": lambda: till.capture(values[0], amount),
        "reverse": lambda: till.reverse(values[0]),
        "catch-up": till.catch_up,
    }
    if operation not in calls:
        raise typer.BadParameter(f"unknown operation {operation}; one of {', '.join(calls)}")
    try:
        typer.echo(json.dumps(calls[operation](), indent=2))
    except Declined as declined:
        typer.echo(json.dumps(declined.problem, indent=2), err=True)
        raise typer.Exit(1) from None
    finally:
        till.close()


@sandbox_app.command("lightspeed")
def lightspeed(
    port: int = typer.Option(8104, help="Port to listen on."),
    host: str = HOST,
    access_token: str = typer.Option("ls_sandbox", help="Bearer token it accepts."),
    refresh_token: str = typer.Option("ls_refresh_sandbox", help="Refresh token it accepts."),
    client_id: str = typer.Option("sandbox-client", help="OAuth client id."),
    client_secret: str = typer.Option("sandbox-secret", help="OAuth client secret."),
    account_id: int = typer.Option(12345, help="The {accountID} in every API path."),
) -> None:
    """A Lightspeed R-Series account: gift card credit accounts, sales, a till at /__sim/."""
    from omnigift_sandbox.lightspeed.app import serve
    from omnigift_sandbox.lightspeed.config import LightspeedConfig

    typer.echo(
        f"Lightspeed R-Series simulator on http://{host}:{port}/API/V3/Account/{account_id} "
        "(OAuth: /auth/oauth/token; control plane: /__sim/)"
    )
    serve(
        host,
        port,
        LightspeedConfig(
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            account_id=account_id,
        ),
    )


@sandbox_app.command("narvar")
def narvar(
    target: str = typer.Option(..., help="The Narvar integration's hook: .../v1/hooks/{id}."),
    username: str = typer.Option(..., help="The Basic username given to the integration."),
    password: str = typer.Option(..., envvar="NARVAR_RMA_PASSWORD", help="Its Basic password."),
    rma: str = typer.Option(..., help="The return's RMA number."),
    order: str = typer.Option("1001", help="The order it returns items of."),
    email: str = typer.Option(..., help="The shopper's e-mail."),
    amount: str = typer.Option("0", help="What the refund is worth, e.g. 80.00."),
    method: str = typer.Option(
        "gift_card", help="gift_card | store_credit | original (a money refund: nothing issued)"
    ),
    topics: str = typer.Option(
        "initiated,on_its_way_to_retailer,delivered_to_retailer,approved",
        help="The webhooks to send, in order (cancelled_by_retailer, rejected, ...).",
    ),
    duplicate: bool = typer.Option(False, help="Send every webhook twice with one id."),
) -> None:
    """A returns platform: send one return's RMA webhooks to an Omnigift integration."""
    import asyncio

    from omnigift_sandbox.narvar.sender import Return, ReturnsPlatform

    platform = ReturnsPlatform(target, username, password)
    ret = Return(
        rma_number=rma,
        order_number=order,
        email=email,
        items=[{"sku": "ITEM-1", "quantity": 1}],
        refund_method=None if method == "original" else method,
        refund_amount=amount,
    )

    async def send() -> None:
        for topic in topics.split(","):
            await platform.send(topic.strip(), ret, duplicate=duplicate)

    asyncio.run(send())
    for attempt in platform.attempts:
        typer.echo(f"{attempt.topic:28} {attempt.webhook_id} -> {attempt.status or 'no answer'}")
    if any(a.status is None or a.status >= 300 for a in platform.attempts[-1:]):
        raise typer.Exit(1)
