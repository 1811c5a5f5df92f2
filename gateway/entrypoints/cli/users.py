"""`paygate user create`: dashboard users (issue 12)."""
from __future__ import annotations

import click

from gateway.config import Settings


@click.group()
def user() -> None:
    """Dashboard users."""


@user.command("create")
@click.argument("email")
@click.option("--operator", is_flag=True, help="An operator: sees every merchant and may refund.")
@click.option("--merchant", "merchant_id", metavar="ID", help="A user of this merchant (mch_...): sees its objects only.")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin", show_default=True,
              help="For a merchant user: admin may refund, viewer only reads.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="PAYGATE_USER_PASSWORD",
              help="Asked for when not given (or read from PAYGATE_USER_PASSWORD); at least 12 characters.")
def user_create(email: str, operator: bool, merchant_id: str | None, role: str, password: str) -> None:
    """Create a dashboard user: `paygate user create --operator EMAIL` or
    `paygate user create --merchant ID [--role viewer] EMAIL`. Only an argon2id hash of the
    password is stored."""
    from gateway.bootstrap import Gateway
    from gateway.domain.errors import DomainError
    from gateway.services.dashboard_users import Role, create_user

    if operator == bool(merchant_id):
        raise click.UsageError("give exactly one of --operator and --merchant ID")
    kind = Role.OPERATOR if operator else (Role.MERCHANT_ADMIN if role == "admin" else Role.MERCHANT_VIEWER)
    gw = Gateway.from_settings(Settings.load())
    try:
        created = create_user(gw, email, password, kind, merchant_id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        gw.db.dispose()
    click.echo(f"user {created.id} {created.email}: {created.role.value}{' of ' + created.merchant_id if created.merchant_id else ''}")
