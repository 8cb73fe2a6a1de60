"""The dashboard at ``GET /``: the /status facts as one server-rendered HTML page.

No JavaScript and no build step: the page reloads itself every few seconds
(``<meta http-equiv="refresh">``). Every value goes through ``xhtml_escape`` — failure reasons
and alert texts come from the outside world. Cells that tests and people look for carry a
``data-fact`` attribute naming the fact (``jobs.created``, ``depth.outbox``...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tornado.escape import xhtml_escape

from trt_actors import JobState

__all__ = ["REFRESH_S", "render"]

REFRESH_S = 5

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2433;
background:#f4f6fa}
header{background:#1d2433;color:#fff;padding:12px 20px;display:flex;gap:24px;align-items:center;
flex-wrap:wrap}
header h1{font-size:18px;margin:0 12px 0 0}
.badge{padding:2px 10px;border-radius:10px;font-weight:600}
.ok{background:#2e9d5b;color:#fff}.bad{background:#d64545;color:#fff}.warn{background:#e0a526}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px;padding:16px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:10px 14px;
overflow-x:auto}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e4e8f0;vertical-align:top}
th{font-weight:600;color:#51607a}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#8a94a6}
"""


def _e(value: Any) -> str:
    if value is None or value == "":
        return '<span class="muted">—</span>'
    if isinstance(value, float):
        value = f"{value:g}"
    return xhtml_escape(str(value))


def _cell(value: Any, fact: str | None = None, numeric: bool | None = None) -> str:
    if numeric is None:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
    attrs = (' class="n"' if numeric else "") + (f' data-fact="{xhtml_escape(fact)}"'
                                                 if fact else "")
    return f"<td{attrs}>{_e(value)}</td>"


def _table(head: Sequence[str], rows: Iterable[str], empty: str = "none") -> str:
    body = "".join(rows)
    if not body:
        body = f'<tr><td colspan="{len(head)}" class="muted">{xhtml_escape(empty)}</td></tr>'
    ths = "".join(f"<th>{xhtml_escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(items: Iterable[tuple[str, Any, str | None]]) -> str:
    """A two-column table of (label, value, data-fact)."""
    return _table(("", ""), (f"<tr><th>{xhtml_escape(label)}</th>{_cell(v, fact, True)}</tr>"
                             for label, v, fact in items))


def _section(title: str, body: str, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<section{cls}><h2>{xhtml_escape(title)}</h2>{body}</section>"


def _duration(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _when(iso: Any) -> str | None:
    """``2026-01-02T03:04:05.678+00:00`` as ``2026-01-02 03:04:05 UTC``."""
    if not isinstance(iso, str):
        return None
    return iso.replace("T", " ")[:19] + " UTC"


def _header(f: Mapping[str, Any]) -> str:
    ready = bool(f.get("ready"))
    db = str(f.get("database", ""))
    alerts = f.get("alerts") or []
    parts = [
        "<h1>TRT node</h1>",
        f'<span>version <b data-fact="version">{_e(f.get("version"))}</b></span>',
        f'<span>up <b data-fact="uptime">{_e(_duration(f.get("uptime_s")))}</b></span>',
        f'<span class="badge {"ok" if ready else "bad"}" data-fact="ready">'
        f'{"READY" if ready else "NOT READY"}</span>',
        f'<span class="badge {"ok" if db == "up" else "bad"}" data-fact="database">'
        f"database {_e(db)}</span>",
    ]
    if alerts:
        parts.append(f'<span class="badge warn">{len(alerts)} alert(s)</span>')
    return f"<header>{''.join(parts)}</header>"


def _supervision(tree: Mapping[str, Any]) -> str:
    rows: list[str] = []

    def walk(node: Mapping[str, Any], path: str) -> None:
        for c in node.get("children", []):
            failure = c.get("last_failure") or {}
            rows.append(
                f"<tr><td>{_e(path + c['id'])}</td>"
                f"{_cell(c.get('state'), 'child.' + str(c['id']))}{_cell(c.get('restarts'))}"
                f"{_cell(_when(failure.get('time')))}{_cell(failure.get('reason'))}"
                f"{_cell(_when(c.get('next_restart')))}{_cell(c.get('budget_left'))}</tr>")
            if "supervisor" in c:
                walk(c["supervisor"], f"{path}{c['id']}/")

    walk(tree, "")
    intro = (f"<p>{_e(tree.get('id'))}: {_e(tree.get('strategy'))}, {_e(tree.get('state'))}, "
             f"budget {_e(tree.get('budget_left'))} of {_e(tree.get('intensity'))} restarts "
             f"per {_e(tree.get('period'))} s</p>")
    return intro + _table(("child", "state", "restarts", "last failure", "reason",
                           "next restart", "budget left"), rows)


def _jobs(f: Mapping[str, Any]) -> str:
    jobs = f.get("jobs")
    if jobs is None:
        return '<p class="muted">database down: job counts unavailable</p>'
    by_state = jobs.get("by_state", {})
    states = [s.value for s in JobState]
    rows = [f"<tr><th>{xhtml_escape(s)}</th>{_cell(by_state.get(s, 0), 'jobs.' + s)}</tr>"
            for s in states]
    rows.append(f"<tr><th>total</th>{_cell(jobs.get('total'), 'jobs.total')}</tr>")
    rows.append(f"<tr><th>in flight</th>{_cell(jobs.get('in_flight'), 'jobs.in_flight')}</tr>")
    rows.append("<tr><th>oldest in flight</th>"
                f"{_cell(_duration(jobs.get('oldest_in_flight_s')), 'jobs.oldest', True)}</tr>")
    return _table(("state", "jobs"), rows)


def _models(f: Mapping[str, Any]) -> str:
    jobs = f.get("jobs") or {}
    states = [s.value for s in JobState]
    rows = (f"<tr><td>{_e(model)}</td>" + "".join(_cell(counts.get(s, 0)) for s in states)
            + "</tr>" for model, counts in (jobs.get("by_model") or {}).items())
    return _table(("model", *states), rows, "no jobs yet")


def _prices(f: Mapping[str, Any]) -> str:
    prices = f.get("prices") or {}

    def price(m: Mapping[str, Any]) -> str:
        if m.get("free"):
            return "free"
        low, high = m.get("price_min"), m.get("price_max")
        return str(low) if low == high else f"{low}–{high}"

    rows = (f"<tr><td>{_e(m.get('id'))}</td>{_cell(m.get('kind'))}{_cell(price(m), None, True)}"
            f"{_cell('' if m.get('enabled') else 'off')}{_cell(m.get('override'))}"
            f"{_cell(m.get('changed_by'))}{_cell(_when(m.get('changed_at')))}</tr>"
            for m in prices.get("models") or [])
    head = (f'<p>{_e(prices.get("credits_per_kie_credit"))} credits per KIE credit · '
            f'{_e(prices.get("enabled"))} models on, {_e(prices.get("disabled"))} off</p>')
    return head + _table(("model", "kind", "credits", "", "override", "by", "when"), rows,
                         "no models")


def _queues(f: Mapping[str, Any]) -> str:
    depths = f.get("depths") or {}
    orphans = f.get("orphans") or {}
    delivery = f.get("delivery") or {}
    outbox = delivery.get("outbox") or {}
    items: list[tuple[str, Any, str | None]] = [
        ("callback inbox (pending)", depths.get("callback_inbox"), "depth.callback_inbox"),
        ("Telegram inbox (unhandled)", depths.get("telegram_inbox"), "depth.telegram_inbox"),
        ("poison updates (parked)", (f.get("poison_updates") or {}).get("count"),
         "poison_updates.count"),
        ("outbox (pending + sending)", depths.get("outbox"), "depth.outbox"),
        ("oldest outbox row", _duration(outbox.get("oldest_open_s")), None),
    ]
    for kind in ("parked", "claimed", "expired"):
        o = orphans.get(kind) or {}
        items.append((f"orphans {kind}", o.get("count"), f"orphans.{kind}"))
    items.append(("oldest parked orphan", _duration(orphans.get("oldest_parked_age_s")), None))
    return _pairs(items)


def _rates(f: Mapping[str, Any]) -> str:
    poll = f.get("poller") or {}
    d = f.get("delivery") or {}
    t = f.get("intake") or {}
    head = f.get("kie_rate_headroom") or {}

    def limit(name: str) -> str | None:
        h = head.get(name)
        if not h:
            return None
        return f"{_num(h.get('available'))} of {_num(h.get('limit'))} / {_num(h.get('per'))} s"

    return _pairs([
        ("KIE status polls /s (limit)",
         f"{_num(poll.get('rate_per_s'))} ({_num(poll.get('limit_per_s'))})", "rate.polls"),
        ("KIE status polls, errors",
         f"{_num(poll.get('polls'))}, {_num(poll.get('errors'))}", None),
        ("KIE headroom: create", limit("create"), None),
        ("KIE headroom: status", limit("status"), None),
        ("Telegram sends /s (limit)",
         f"{_num(d.get('rate_per_s'))} ({_num(d.get('limit_per_s'))})", "rate.sends"),
        ("Telegram sent, 429s, failures",
         ", ".join(_num(d.get(k)) for k in ("sent", "too_many_requests", "failures")), None),
        ("Telegram offset", t.get("offset"), "telegram.offset"),
        ("Telegram lag (oldest unhandled)", _duration(t.get("lag_s")), "telegram.lag"),
        ("Last getUpdates answer", _duration(t.get("last_poll_age_s")), None),
    ])


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "—"


def _actors(f: Mapping[str, Any]) -> str:
    rows = []
    for kind, s in (f.get("actors") or {}).items():
        active = f"{_num(s.get('active'))} / {_num(s.get('max_active'))}"
        rows.append(f"<tr><td>{_e(kind)}</td>{_cell(active, f'actors.{kind}.active', True)}"
                    f"{_cell(s.get('passivated'))}{_cell(s.get('started'))}"
                    f"{_cell(s.get('failures'))}</tr>")
    return _table(("kind", "active / max", "passivated", "started", "failures"), rows)


def _callbacks(f: Mapping[str, Any]) -> str:
    cb = f.get("callbacks")
    if cb is None:
        return '<p class="muted">callback gateway not running</p>'
    return _pairs((k.replace("_", " "), v, f"callbacks.{k}") for k, v in cb.items())


def _pool(f: Mapping[str, Any]) -> str:
    return _table(("pool stat", "value"), (f"<tr><th>{_e(k)}</th>{_cell(v)}</tr>"
                                          for k, v in (f.get("db_pool") or {}).items()))


def _size(n: Any) -> str | None:
    if not isinstance(n, int | float):
        return None
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return None


def _tables(f: Mapping[str, Any]) -> str:
    tables = f.get("tables")
    if tables is None:
        return '<p class="muted">database down: table sizes unavailable</p>'

    def row(name: str, t: Mapping[str, Any]) -> str:
        estimate = None if t.get("rows") is None else f"≈ {t['rows']:,}"
        return (f"<tr><td>{_e(name)}</td>{_cell(estimate, f'table.{name}.rows', True)}"
                f"{_cell(_size(t.get('bytes')), f'table.{name}.bytes', True)}</tr>")

    return _table(("table", "rows", "size with indexes"),
                  (row(name, t) for name, t in tables.items()))


def _alerts(f: Mapping[str, Any]) -> str:
    return _table(("alert", "message"), (
        f"<tr><td>{_e(a.get('key'))}</td>{_cell(a.get('message'))}</tr>"
        for a in f.get("alerts") or []), "no alerts")


def _audit(f: Mapping[str, Any]) -> str:
    if f.get("admin_audit") is None:
        return '<p class="muted">database down: admin actions unavailable</p>'
    return _table(("time", "admin", "action", "user", "job", "detail"), (
        f"<tr>{_cell(_when(a.get('at')))}{_cell(a.get('admin_id'))}{_cell(a.get('action'))}"
        f"{_cell(a.get('target_user'))}{_cell(a.get('job_id'))}{_cell(a.get('detail'))}</tr>"
        for a in f.get("admin_audit") or []), "no admin actions")


def _failures(f: Mapping[str, Any]) -> str:
    return _table(("time", "source", "job", "reason"), (
        f"<tr>{_cell(_when(x.get('time')))}{_cell(x.get('source'))}"
        f"{_cell(x.get('job_id'))}{_cell(x.get('reason'))}</tr>"
        for x in f.get("failures") or []), "no failures")


def render(facts: Mapping[str, Any]) -> str:
    """The whole page for one set of facts."""
    alerts = _section("Alerts", _alerts(facts), wide=bool(facts.get("alerts")))
    sections = [
        *([alerts] if facts.get("alerts") else []),  # first when there is something to fix
        _section("Supervision", _supervision(facts.get("supervision") or {}), wide=True),
        _section("Jobs by state", _jobs(facts)),
        _section("Queues and orphans", _queues(facts)),
        _section("Rates and limits", _rates(facts)),
        _section("Virtual actors", _actors(facts)),
        _section("KIE callbacks", _callbacks(facts)),
        _section("Jobs by model", _models(facts), wide=True),
        _section("Prices", _prices(facts), wide=True),
        _section("Last failures", _failures(facts), wide=True),
        _section("Admin actions", _audit(facts), wide=True),
        _section("Database pool", _pool(facts)),
        _section("Tables", _tables(facts)),
        *([] if facts.get("alerts") else [alerts]),
    ]
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>TRT node status</title><style>{_CSS}</style></head><body>"
        f"{_header(facts)}<main>{''.join(sections)}</main></body></html>"
    )
