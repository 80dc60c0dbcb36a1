"""Settings resolution: where helmforge keeps its data and which database it uses.

The environment is passed in (``load_settings(os.environ)`` at the entry points), never read
deep inside, so tests and several servers in one process stay independent.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "DEFAULT_GROUPS_LIFETIME",
    "DEFAULT_MAX_BODY_BYTES",
    "OidcSettings",
    "Settings",
    "load_settings",
]

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from helmforge.adapters.storage.database import database_url_for_directory
from helmforge.core.access.changes import ApprovalRules, parse_approval_rules
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import InputError

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_ENVIRONMENTS = ("dev", "sit", "uat", "prod")
DEFAULT_GIT_EMAIL_DOMAIN = "users.helmforge.invalid"
#: Seconds an SSO user's groups hold after the provider confirmed them (a sign-in).
DEFAULT_GROUPS_LIFETIME = 900
_LOG_FORMATS = ("text", "json")
# A DNS name: labels of letters, digits and '-', joined by single dots.
_EMAIL_DOMAIN = re.compile(
    r"(?!.*\.\.)(?!.*-\.)(?!.*\.-)[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z"
)


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """Single sign-on through an OpenID Connect provider (DESIGN §9).

    ``issuer``: HELMFORGE_OIDC_ISSUER (https, or http on loopback only); ``client_id`` and
    ``client_secret``: HELMFORGE_OIDC_CLIENT_ID / _SECRET; ``groups_claim``:
    HELMFORGE_OIDC_GROUPS_CLAIM (default ``groups``); ``allowed_groups``:
    HELMFORGE_OIDC_ALLOWED_GROUPS, the login gate (comma separated; empty: anyone the provider
    authenticates); ``public_url``: HELMFORGE_PUBLIC_URL, the address browsers reach the
    server at (the callback is ``{public_url}/sso/callback``; unset: the request's own);
    ``deadline``: HELMFORGE_OIDC_DEADLINE (default 10), the seconds one request to the
    provider may take in all; ``groups_lifetime``: HELMFORGE_OIDC_GROUPS_LIFETIME (default
    900), the seconds a web session acts with the groups (and the login gate's verdict) of
    its last check at the provider; past them the browser goes through the provider again
    (silently, ``prompt=none``, while the user's session there lives), so a user removed
    from a group loses its rights within that time. The user's API tokens act with the
    groups as long, counted from the user's last sign-in or check, then without them.
    """

    issuer: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    groups_claim: str = "groups"
    allowed_groups: frozenset[str] = frozenset()
    public_url: str | None = None
    deadline: float = 10.0
    groups_lifetime: float = float(DEFAULT_GROUPS_LIFETIME)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings.

    ``database_url``: HELMFORGE_DATABASE_URL, else a SQLite file in ``data_dir``.
    ``data_dir``: HELMFORGE_DATA_DIR, else $XDG_DATA_HOME/helmforge or ~/.local/share/helmforge.
    ``log_format``: HELMFORGE_LOG_FORMAT, ``text`` (default) or ``json``.
    ``max_body_bytes``: HELMFORGE_MAX_BODY_BYTES, the largest request body the API reads.
    ``seed_examples``: HELMFORGE_SEED_EXAMPLES (default true) seeds the example template.
    ``threads``: HELMFORGE_THREADS (default 4; 2 in each worker of ``serve --workers N``),
    requests a server process works on at once; more wait in line, first come first served
    (Python runs one thread at a time, so more threads only make the slowest answers slower).
    ``registry_deadline``: HELMFORGE_REGISTRY_DEADLINE (default 30), the seconds one request
    to a registry may take in all, retries included, before it fails naming the registry.
    ``git_deadline``: HELMFORGE_GIT_DEADLINE (default 30), the seconds one fetch or push of a
    GitOps repository may take in all before it fails naming the repository.
    ``helm_deadline``: HELMFORGE_HELM_DEADLINE (default 30), the seconds one render of a chart
    by Helm (a values preview renders twice) may take, waiting for the library included.
    ``git_email_domain``: HELMFORGE_GIT_EMAIL_DOMAIN (default ``users.helmforge.invalid``):
    commits are authored by the acting user as ``NAME <NAME@DOMAIN>`` (a user name that is an
    e-mail address, as single sign-on names often are, is used as it is).
    ``development_environments``: HELMFORGE_DEVELOPMENT_ENVIRONMENTS (default ``dev``), the
    environments the developer role may act in, comma separated.
    ``approvals``: HELMFORGE_APPROVALS (default ``prod=1``), how many people other than the
    requester must approve a change in each environment (``prod=2,uat=1``; empty: none).
    ``trusted_proxies``: HELMFORGE_TRUSTED_PROXIES, comma-separated addresses or CIDRs
    (``10.0.0.0/8,192.0.2.7``) of reverse proxies whose ``X-Forwarded-For`` is believed;
    default none: the client is the peer of the connection, whatever headers it sends.
    ``template_review``: HELMFORGE_TEMPLATE_REVIEW (default false): publishing a template
    version needs review by another person holding ``template.publish`` on it.
    ``secret_key``: HELMFORGE_SECRET_KEY, the Fernet key that encrypts registry credentials at
    rest (give the same one to every server sharing a database); unset, a key file is created
    in ``data_dir`` (mode 0600) on first use. Never printed.
    ``argocd_deadline``: HELMFORGE_ARGOCD_DEADLINE (default 120), the seconds one sync of an
    instance may take in all: waiting for another operation, retries, and the rollout until
    Argo CD reports the pushed revision ``Succeeded`` and ``Healthy``.
    ``argocd_poll_interval``: HELMFORGE_ARGOCD_POLL_INTERVAL (default 2), the seconds between
    two status reads while a sync waits.
    ``argocd_applicationset``: HELMFORGE_ARGOCD_APPLICATIONSET (default false): the
    Applications are generated by the repository's ApplicationSet (``helmforge argocd
    applicationset``), so a sync first waits for the instance's Application to appear.
    ``auto_sync_environments``: HELMFORGE_AUTO_SYNC_ENVIRONMENTS (default ``dev``; empty:
    none), the environments Argo CD syncs by itself: their Applications carry
    ``syncPolicy.automated`` and a sync refreshes and waits; elsewhere a sync names the exact
    chart version and commit.
    ``oidc``: single sign-on (``OidcSettings``), set when HELMFORGE_OIDC_ISSUER is.
    ``jobs_worker``: HELMFORGE_JOBS_WORKER (default true): this server process also runs fleet
    jobs (DESIGN §10); off, only ``helmforge jobs worker`` processes do.
    ``jobs_concurrency``: HELMFORGE_JOBS_CONCURRENCY (default 1), the jobs one worker runs at
    once (PostgreSQL; the in-process runner of SQLite runs one).
    ``verify_interval``: HELMFORGE_VERIFY_INTERVAL (seconds, default 0: off): the job
    workers queue a verification of the whole fleet when none was queued for this long.
    ``jobs_stalled_seconds``: HELMFORGE_JOBS_STALLED_SECONDS (default 30): a PostgreSQL
    worker silent this long is taken for dead and its job is run again by another.
    ``environments``: HELMFORGE_ENVIRONMENTS (comma-separated DNS labels, default
    dev,sit,uat,prod), the environments charts are made for: the Generate page offers them and
    a template's ``when.environment`` must name one of them.
    """

    data_dir: Path
    database_url: str
    log_format: str = "text"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    seed_examples: bool = True
    threads: int = 4
    registry_deadline: float = 30.0
    git_deadline: float = 30.0
    helm_deadline: float = 30.0
    git_email_domain: str = DEFAULT_GIT_EMAIL_DOMAIN
    development_environments: frozenset[str] = frozenset({"dev"})
    approvals: ApprovalRules = field(default_factory=ApprovalRules)
    template_review: bool = False
    secret_key: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[str, ...] = ()
    oidc: OidcSettings | None = None
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    argocd_deadline: float = 120.0
    argocd_poll_interval: float = 2.0
    argocd_applicationset: bool = False
    auto_sync_environments: frozenset[str] = frozenset({"dev"})
    jobs_worker: bool = True
    jobs_concurrency: int = 1
    jobs_stalled_seconds: float = 30.0
    verify_interval: float = 0.0

    @property
    def groups_lifetime(self) -> float:
        """Seconds an SSO user's groups hold (``OidcSettings.groups_lifetime``): also when
        single sign-on is no longer configured, for the tokens of the users it made."""
        return self.oidc.groups_lifetime if self.oidc else float(DEFAULT_GROUPS_LIFETIME)


def _default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "helmforge"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "share" / "helmforge"


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"{name}={raw!r} must be a positive whole number")
    return value


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit():
        raise InputError(f"{name}={raw!r} must be a whole number of seconds (0 or more)")
    return int(raw)


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise InputError(f"{name}={raw!r} must be true or false")
    return raw in ("true", "1", "yes")


def _environments(environ: Mapping[str, str], name: str) -> frozenset[str]:
    raw = environ.get(name) or "dev"
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    bad = sorted(n for n in names if not is_dns_label(n))
    if bad or not names:
        raise InputError(
            f"{name}={raw!r}: give comma-separated environment names (DNS-1123 labels), "
            f"such as dev,sandbox"
        )
    return names


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _web_address(environ: Mapping[str, str], name: str) -> str:
    raw = environ[name].strip().rstrip("/")
    parts = urlsplit(raw)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or not parts.hostname or parts.query or parts.fragment:
        raise InputError(
            f"{name}={raw[:200]!r} must be an https:// URL without query or fragment "
            "(http:// only on loopback)"
        )
    return raw


def _oidc(environ: Mapping[str, str]) -> OidcSettings | None:
    if not environ.get("HELMFORGE_OIDC_ISSUER"):
        return None
    client_id = environ.get("HELMFORGE_OIDC_CLIENT_ID", "").strip()
    if not client_id:
        raise InputError(
            "HELMFORGE_OIDC_CLIENT_ID must be set when HELMFORGE_OIDC_ISSUER is "
            "(the client id registered at the provider)"
        )
    claim = environ.get("HELMFORGE_OIDC_GROUPS_CLAIM", "").strip() or "groups"
    allowed = environ.get("HELMFORGE_OIDC_ALLOWED_GROUPS", "")
    public_url = environ.get("HELMFORGE_PUBLIC_URL")
    return OidcSettings(
        issuer=_web_address(environ, "HELMFORGE_OIDC_ISSUER"),
        client_id=client_id,
        client_secret=environ.get("HELMFORGE_OIDC_CLIENT_SECRET", ""),
        groups_claim=claim,
        allowed_groups=frozenset(g.strip() for g in allowed.split(",") if g.strip()),
        public_url=_web_address(environ, "HELMFORGE_PUBLIC_URL") if public_url else None,
        deadline=float(_positive_int(environ, "HELMFORGE_OIDC_DEADLINE", 10)),
        groups_lifetime=float(
            _positive_int(environ, "HELMFORGE_OIDC_GROUPS_LIFETIME", DEFAULT_GROUPS_LIFETIME)
        ),
    )


def _configured_environments(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get("HELMFORGE_ENVIRONMENTS")
    if raw is None or not raw.strip():
        return DEFAULT_ENVIRONMENTS
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",")))
    bad = [name for name in names if not is_dns_label(name)]
    if bad:
        raise InputError(
            f"HELMFORGE_ENVIRONMENTS={raw[:200]!r}: {', '.join(map(repr, bad))} is not a "
            "DNS-1123 label; give comma-separated names such as dev,sit,uat,prod"
        )
    return names


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Resolve settings from ``environ`` (the HELMFORGE_* variables); raises ``InputError``."""
    data_dir = Path(environ.get("HELMFORGE_DATA_DIR") or _default_data_dir(environ))
    database_url = environ.get("HELMFORGE_DATABASE_URL") or database_url_for_directory(data_dir)
    log_format = (environ.get("HELMFORGE_LOG_FORMAT") or "text").lower()
    if log_format not in _LOG_FORMATS:
        raise InputError(
            f"HELMFORGE_LOG_FORMAT={log_format!r} is not one of {', '.join(_LOG_FORMATS)}"
        )
    seed = (environ.get("HELMFORGE_SEED_EXAMPLES") or "true").lower()
    if seed not in ("true", "false", "1", "0", "yes", "no"):
        raise InputError(f"HELMFORGE_SEED_EXAMPLES={seed!r} must be true or false")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        log_format=log_format,
        max_body_bytes=_positive_int(environ, "HELMFORGE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        seed_examples=seed in ("true", "1", "yes"),
        threads=_positive_int(environ, "HELMFORGE_THREADS", 4),
        registry_deadline=float(_positive_int(environ, "HELMFORGE_REGISTRY_DEADLINE", 30)),
        git_deadline=float(_positive_int(environ, "HELMFORGE_GIT_DEADLINE", 30)),
        helm_deadline=float(_positive_int(environ, "HELMFORGE_HELM_DEADLINE", 30)),
        git_email_domain=_email_domain(environ),
        secret_key=environ.get("HELMFORGE_SECRET_KEY") or None,
        development_environments=_environments(environ, "HELMFORGE_DEVELOPMENT_ENVIRONMENTS"),
        approvals=parse_approval_rules(environ.get("HELMFORGE_APPROVALS", "prod=1")),
        template_review=_flag(environ, "HELMFORGE_TEMPLATE_REVIEW", default=False),
        trusted_proxies=_networks(environ.get("HELMFORGE_TRUSTED_PROXIES") or ""),
        oidc=_oidc(environ),
        environments=_configured_environments(environ),
        argocd_deadline=float(_positive_int(environ, "HELMFORGE_ARGOCD_DEADLINE", 120)),
        argocd_poll_interval=float(_positive_int(environ, "HELMFORGE_ARGOCD_POLL_INTERVAL", 2)),
        argocd_applicationset=_flag(environ, "HELMFORGE_ARGOCD_APPLICATIONSET", default=False),
        auto_sync_environments=_auto_sync(environ),
        jobs_worker=_flag(environ, "HELMFORGE_JOBS_WORKER", default=True),
        jobs_concurrency=_positive_int(environ, "HELMFORGE_JOBS_CONCURRENCY", 1),
        jobs_stalled_seconds=float(_whole_number(environ, "HELMFORGE_JOBS_STALLED_SECONDS", 30)),
        verify_interval=float(_whole_number(environ, "HELMFORGE_VERIFY_INTERVAL", 0)),
    )


def _auto_sync(environ: Mapping[str, str]) -> frozenset[str]:
    name = "HELMFORGE_AUTO_SYNC_ENVIRONMENTS"
    raw = environ.get(name)
    if raw is None:
        return frozenset({"dev"})
    if not raw.strip():
        return frozenset()
    return _environments(environ, name)


def _email_domain(environ: Mapping[str, str]) -> str:
    raw = (environ.get("HELMFORGE_GIT_EMAIL_DOMAIN") or DEFAULT_GIT_EMAIL_DOMAIN).strip()
    if not _EMAIL_DOMAIN.match(raw):
        raise InputError(
            f"HELMFORGE_GIT_EMAIL_DOMAIN={raw[:200]!r} is not a domain name "
            "(letters, digits, '-' and '.', such as users.example.com)"
        )
    return raw


def _networks(raw: str) -> tuple[str, ...]:
    networks: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise InputError(
                f"HELMFORGE_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR "
                "(10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"
            ) from None
    return tuple(networks)
