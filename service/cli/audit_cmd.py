"""`ordershield audit …` and `ordershield privacy …`: the tamper-evident log, from the shell.

`verify` and `verify-bundle` exit 1 when something does not verify, so they
can run from cron or a regulator's script. `bundle`, `export` and `pdf` write
what the legal panel downloads, logged with the operator as who asked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console

from service.audit.bundle import verify_bundle
from service.audit.evidence import build_evidence
from service.audit.export import (
    InvalidExport,
    build_bundle,
    bundle_roles,
    export_decisions,
    pdf_bundle,
)
from service.audit.log import CheckpointRefused, take_checkpoint, verify
from service.audit.pdf import evidence_pdf
from service.audit.signing import (
    SigningKeyError,
    generate_signing_key,
    key_id,
    load_public_key,
    load_signing_key,
    public_pem,
    read_checkpoint,
)
from service.auth.policy import MaskingPolicy, PolicyError, load_policy
from service.auth.principal import Principal, operator
from service.cli.db import database
from service.errors import DomainError
from service.persistence.audit_log import sequence
from service.persistence.personal import erase_customer
from service.persistence.roles import create_service_role
from service.settings import ServiceSettings

app = typer.Typer(help="The tamper-evident audit log: checkpoints, verification and exports.")
privacy = typer.Typer(help="Requests about personal data.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


def _public_key(settings: ServiceSettings, source: str | None) -> Ed25519PublicKey:
    try:
        if source:
            return load_public_key(source)
        return load_signing_key(settings.signing_key_source).public_key()
    except SigningKeyError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


@app.command("keygen")
def keygen(
    path: Annotated[
        Path | None, typer.Option(help="where to write the private key; default: the setting's")
    ] = None,
) -> None:
    """Create the Ed25519 key that signs checkpoints; print its public key (give it to legal)."""
    settings = ServiceSettings()
    target = path or Path(settings.signing_key_source)
    try:
        public = generate_signing_key(target)
    except FileExistsError as error:
        err.print(f"[red]error:[/red] {target} exists: a signing key is never overwritten")
        raise typer.Exit(1) from error
    err.print(f"signing key {key_id(public)} written to {target} (mode 0600)")
    sys.stdout.write(public_pem(public))


@app.command("public-key")
def public_key() -> None:
    """Print the public key of the configured signing key, to verify checkpoints and bundles."""
    key = _public_key(ServiceSettings(), None)
    sys.stdout.write(public_pem(key))


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign the log's head now; write it to the checkpoint folder (and the witness, if set)."""
    settings = ServiceSettings()
    with database(settings) as engine:
        try:
            signed, path = take_checkpoint(engine, settings)
        except SigningKeyError as error:
            err.print(f"[red]error:[/red] {error}: create one with `ordershield audit keygen`")
            raise typer.Exit(1) from error
        except CheckpointRefused as error:
            err.print(f"[red]refused:[/red] {error}")
            raise typer.Exit(1) from error
    out.print(f"checkpoint of {signed.size} entries, root {signed.root}, written to {path}")


@app.command("sequencer")
def sequencer() -> None:
    """Give pending entries their place in the log every AUDIT_SEQUENCE_SECONDS, until Ctrl-C.

    Run one (or more: they take turns) beside servers started with
    ORDERSHIELD_AUDIT_SEQUENCE_IN_SERVER=false, to keep the hashing out of them.
    """
    settings = ServiceSettings()
    with database(settings) as engine:
        out.print(f"sequencing every {settings.audit_sequence_seconds:g} s; Ctrl-C stops")
        try:
            while True:
                sequence(engine)
                time.sleep(settings.audit_sequence_seconds)
        except KeyboardInterrupt:
            pass


@app.command("verify")
def verify_command(
    from_checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--from-checkpoint", help="a checkpoint file kept outside the database"),
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            help="public key (PEM file, PEM, base64 or hex), once per key the log was "
            "signed with; default: the configured key's"
        ),
    ] = None,
) -> None:
    """Walk the whole log; name the first broken entry or checkpoint and exit 1 if any."""
    settings = ServiceSettings()
    sources: list[str | None] = list(public_key) if public_key else [None]
    keys = [_public_key(settings, source) for source in sources]
    extra = []
    for path in from_checkpoint or []:
        try:
            extra.append((read_checkpoint(path), path.name))
        except (OSError, ValueError) as error:
            err.print(f"[red]error:[/red] cannot read checkpoint {path}: {error}")
            raise typer.Exit(2) from error
    with database(settings) as engine:
        result = verify(engine, keys, extra)
    for check in result.checks:
        state = "ok" if check.problem is None else f"[red]{check.problem}[/red]"
        out.print(f"checkpoint {check.checkpoint.size:>8} ({check.source}): {state}")
    if result.ok:
        out.print(f"[green]verified:[/green] {result.summary()}")
        return
    out.print(f"[red]NOT VERIFIED:[/red] {result.summary()}")
    raise typer.Exit(1)


@app.command("verify-bundle")
def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="an exported evidence bundle (JSON)")],
    public_key: Annotated[
        str, typer.Option(help="OrderShield's audit public key (PEM file, PEM, base64 or hex)")
    ],
) -> None:
    """Check an evidence bundle offline, with no database: its proofs, signature and values."""
    try:
        key = load_public_key(public_key)
    except SigningKeyError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    try:
        data = orjson.loads(bundle.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        err.print(f"[red]error:[/red] cannot read {bundle}: {error}")
        raise typer.Exit(2) from error
    problems = verify_bundle(data, key)
    if problems:
        for problem in problems:
            out.print(f"[red]✗[/red] {problem}")
        raise typer.Exit(1)
    order = data["decision"]["order_id"]
    size = data["checkpoint"]["size"]
    out.print(
        f"[green]verified:[/green] the decision of order {order} and "
        f"{len(data['entries'])} log entries are in the log of {size} entries signed by "
        f"key {data['checkpoint']['key_id']} at {data['checkpoint']['signed_at']}"
    )


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _moment(value: str, name: str) -> datetime:
    """Return an ISO 8601 time given on the command line; it must carry its zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise _fail(f"--{name}: {value!r} is not an ISO 8601 time", 2) from error
    if moment.tzinfo is None:
        raise _fail(f"--{name}: {value!r} has no time zone (add +00:00 or Z)", 2)
    return moment


def _write(out_path: Path, chunks: Iterable[bytes]) -> int:
    """Write chunks to a file as they come; remove what was written if writing fails."""
    written = 0
    try:
        with out_path.open("wb") as file:
            for chunk in chunks:
                file.write(chunk)
                written += len(chunk)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return written


def _policy(settings: ServiceSettings) -> MaskingPolicy:
    try:
        return load_policy(settings.masking_policy)
    except PolicyError as error:
        raise _fail(str(error)) from error


Out = Annotated[Path, typer.Option("--out", help="the file to write", dir_okay=False)]
Role = Annotated[str, typer.Option(help="the role the export is made for (masking)")]


@app.command("bundle")
def bundle_command(
    order_id: Annotated[str, typer.Argument(help="the order whose decision to export")],
    out_path: Out,
    role: Role = "legal",
) -> None:
    """Write a decision's signed evidence bundle; `verify-bundle` checks it offline."""
    settings = ServiceSettings()
    policy = _policy(settings)
    with database(settings) as engine:
        try:
            bundle = build_bundle(engine, settings, order_id, role, policy, actor=operator())
        except (SigningKeyError, CheckpointRefused, InvalidExport) as error:
            raise _fail(str(error)) from error
    _write(out_path, [orjson.dumps(bundle, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)])
    shown = sum("value" in item for item in bundle["personal"].values())
    out.print(
        f"bundle of order {order_id}: {len(bundle['entries'])} entries, checkpoint of "
        f"{bundle['checkpoint']['size']}, {shown} personal value(s) disclosed; "
        f"written to {out_path}"
    )


@app.command("pdf")
def pdf_command(
    order_id: Annotated[str, typer.Argument(help="the order whose decision to render")],
    out_path: Out,
    role: Role = "legal",
) -> None:
    """Write a decision's evidence as a PDF, with the checkpoint of its bundle to match."""
    settings = ServiceSettings()
    policy = _policy(settings)
    who = operator()
    principal = Principal("user", who, who, role)
    with database(settings) as engine:
        try:
            evidence = build_evidence(engine, settings, principal, order_id)
            bundle = pdf_bundle(engine, settings, order_id, role, policy, actor=principal.actor)
        except DomainError as error:
            raise _fail(str(error.detail)) from error
        except (SigningKeyError, CheckpointRefused, InvalidExport) as error:
            raise _fail(str(error)) from error
    size = _write(out_path, [evidence_pdf(evidence, bundle, bundle_roles(policy))])
    out.print(f"evidence of order {order_id} for {role}: {size} bytes written to {out_path}")


@app.command("export")
def export_command(
    start: Annotated[str, typer.Option(help="first decision time, ISO 8601 with its zone")],
    end: Annotated[str, typer.Option(help="end of the range (excluded), ISO 8601 with its zone")],
    role: Annotated[str, typer.Option(help="the role the rows are masked for")],
    out_path: Out,
    fmt: Annotated[str, typer.Option("--format", help="ndjson or csv")] = "ndjson",
) -> None:
    """Stream the decisions of a time range, masked for a role, to a file (NDJSON or CSV)."""
    settings = ServiceSettings()
    policy = _policy(settings)
    since, until = _moment(start, "start"), _moment(end, "end")
    with database(settings) as engine:
        try:
            chunks = export_decisions(engine, since, until, role, policy, fmt, operator())
        except InvalidExport as error:
            raise _fail(f"--{error.field}: {error.message}", 2) from error
        size = _write(out_path, chunks)
    out.print(f"decisions from {since} to {until} for {role}: {size} bytes written to {out_path}")


@app.command("service-role")
def service_role(
    name: Annotated[str, typer.Argument(help="the PostgreSQL role the service connects as")],
    password: Annotated[
        str | None, typer.Option(envvar="ORDERSHIELD_SERVICE_ROLE_PASSWORD", help="its password")
    ] = None,
) -> None:
    """Create (or fix) a PostgreSQL role that may append to the audit log but never change it."""
    with database(ServiceSettings()) as engine:
        create_service_role(engine, name, password)
    out.print(f"role {name}: reads and writes every table; on audit_log only SELECT and INSERT")


@privacy.command("erase")
def erase(
    customer: Annotated[str, typer.Option(help="the customer id of the erasure request")],
    by: Annotated[str | None, typer.Option(help="who asks (recorded); default: you")] = None,
) -> None:
    """Erase a customer's personal values from every decision; the log records it and verifies."""
    with database(ServiceSettings()) as engine:
        done = erase_customer(engine, customer, by or operator())
    out.print(
        f"erased {done.values} personal value(s) of customer {customer} "
        f"across {done.orders} decision(s) at {done.at:%Y-%m-%d %H:%M:%S} UTC"
    )
