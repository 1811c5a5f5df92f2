"""How the pages show amounts and times: CNY with separators, Beijing time with the zone named."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask, request, url_for
from markupsafe import Markup, escape

from gateway.domain.clock import BEIJING, as_utc
from gateway.domain.money import format_cny

ZONE = "Beijing time"


def beijing(moment: datetime | None, with_zone: bool = True) -> str:
    """2026-11-30 15:45 Beijing time"""
    if moment is None:
        return "never"
    local = as_utc(moment).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return f"{local} {ZONE}" if with_zone else local


def time_tag(moment: datetime | None) -> Markup:
    if moment is None:
        return Markup("never")
    return Markup('<time datetime="{}">{}</time>').format(as_utc(moment).isoformat(), beijing(moment))


def cny(fen: int | None, currency: str = "CNY") -> str:
    if fen is None:
        return ""
    return format_cny(fen) if currency == "CNY" else f"{currency} {fen} (minor units)"


def yuan(fen: int) -> str:
    """1,234.56: the amount alone, for tables whose header names the currency."""
    return format_cny(fen).removeprefix("CNY ")


def day(value: date) -> str:
    return value.strftime("%Y-%m-%d")


def humanize(code: str | None) -> str:
    """insufficient_funds -> insufficient funds"""
    return escape((code or "").replace("_", " "))


CURSORS = ("before", "after", "page")


def page_link(param: str, value: int) -> str:
    """This page's address with the same filters and another page cursor."""
    args = {key: item for key, item in request.args.items() if key not in CURSORS}
    return url_for(request.endpoint, **(request.view_args or {}), **args, **{param: value})


def register(app: Flask) -> None:
    app.jinja_env.filters.update(cny=cny, yuan=yuan, beijing=beijing, time_tag=time_tag, day=day, humanize=humanize)
    app.jinja_env.globals.update(ZONE=ZONE, page_link=page_link)
