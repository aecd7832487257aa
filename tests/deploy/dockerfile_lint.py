"""A small hadolint-style linter for the project's Dockerfile, runnable without a Docker engine.

:func:`parse` turns Dockerfile text into instructions (continuations joined, comments and parser
directives dropped, each tagged with its build stage); :func:`lint` applies the rules below and
returns findings. Rules (named after hadolint's where one exists):

- ``multi-stage``: at least two stages; the final stage copies from an earlier one.
- ``DL3007``/``pinned-base``: every base image has an explicit version tag or a digest, never
  ``latest`` (ARG defaults are resolved).
- ``DL3002``/``non-root``: the final stage's last USER is a numeric uid other than 0.
- ``entrypoint``: exec-form ENTRYPOINT and CMD in the final stage.
- ``expose``: the final stage exposes the expected port.
- ``DL3020``/``add-url``: no ADD of URLs (or archives); COPY instead.
- ``secret-env``: no ENV/ARG whose name looks like a secret (token, password, key, ...).
- ``DL3009``/``apt-lists``: an ``apt-get install`` is followed by removing /var/lib/apt/lists in
  the same RUN; ``DL3015`` ``--no-install-recommends``; ``DL3014`` ``-y``.
- ``DL3042``/``pip-cache``: pip installs without a cache (flag or PIP_NO_CACHE_DIR).
- ``DL3004``/``sudo``: no sudo.
- ``DL3000``/``workdir``: WORKDIR paths are absolute.
- ``bytecode``: the final stage sets PYTHONDONTWRITEBYTECODE=1 (read-only root filesystem).
- ``oci-labels``: the final stage carries org.opencontainers.image.* labels.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

__all__ = ["Finding", "Instruction", "lint", "parse"]

_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its line, upper-cased keyword, raw arguments and stage index."""

    line: int
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str] | None:
        """The JSON array form of the arguments, or None for the shell form."""
        text = self.args.strip()
        if self.keyword == "HEALTHCHECK" and "CMD " in text:  # HEALTHCHECK [options] CMD [...]
            text = text.split("CMD ", 1)[1].strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass(frozen=True)
class Finding:
    """A rule violation at a line (0 when it concerns the whole file)."""

    rule: str
    line: int
    message: str


def parse(text: str) -> list[Instruction]:
    """Parse Dockerfile text into instructions (backslash continuations joined)."""
    instructions: list[Instruction] = []
    stage = -1
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker too
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        joined = " ".join(part for part in buffer if part)
        buffer = []
        keyword, _, args = joined.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(start, keyword, args.strip(), stage))
    return instructions


def _arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def _expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)


def _env_pairs(args: str) -> dict[str, str]:
    """ENV/LABEL ``k=v k2="v 2"`` (or legacy ``ENV k v``) as a dict."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.partition("=")[::2] for token in tokens)


def _stage_name(ins: Instruction) -> str | None:
    match = re.search(r"\s+AS\s+(\S+)\s*$", ins.args, re.I)
    return match.group(1) if match else None


def lint(text: str, *, expose: str = "8080") -> list[Finding]:
    """Apply every rule to the Dockerfile ``text``; an empty list means it is clean."""
    instructions = parse(text)
    findings: list[Finding] = []
    froms = [i for i in instructions if i.keyword == "FROM"]
    if not froms:
        return [Finding("multi-stage", 0, "no FROM instruction")]
    final = froms[-1].stage
    final_ins = [i for i in instructions if i.stage == final]
    args = _arg_defaults(instructions)
    stage_names = {name for name in (_stage_name(f) for f in froms[:-1]) if name}

    if len(froms) < 2:
        findings.append(Finding("multi-stage", froms[0].line, "build in one stage, run in another"))
    copies_from = [
        m.group(1)
        for i in final_ins
        if i.keyword == "COPY"
        for m in [re.search(r"--from=(\S+)", i.args)]
        if m
    ]
    if len(froms) >= 2 and not any(c in stage_names or c.isdigit() for c in copies_from):
        findings.append(Finding("multi-stage", froms[-1].line, "final stage copies nothing built"))

    for ins in froms:
        image = _expand(ins.args.split()[0] if ins.args else "", args)
        if image in stage_names or image == "scratch":
            continue
        name, _, digest = image.partition("@")
        _, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
        if digest.startswith("sha256:"):
            continue
        if not tag or tag == "latest" or not re.match(r"^\d+\.\d+", tag):
            findings.append(
                Finding("DL3007", ins.line, f"base image {image!r} is not pinned to a version tag")
            )

    users = [i for i in final_ins if i.keyword == "USER"]
    if not users:
        findings.append(Finding("DL3002", 0, "final stage has no USER: it would run as root"))
    else:
        user = users[-1].args.split(":")[0].strip()
        if not user.isdigit():
            findings.append(Finding("DL3002", users[-1].line, f"USER {user!r} is not numeric"))
        elif int(user) == 0:
            findings.append(Finding("DL3002", users[-1].line, "USER is root"))

    for keyword in ("ENTRYPOINT", "CMD"):
        found = [i for i in final_ins if i.keyword == keyword]
        if not found:
            findings.append(Finding("entrypoint", 0, f"final stage has no {keyword}"))
        elif found[-1].exec_form() is None:
            findings.append(Finding("entrypoint", found[-1].line, f"{keyword} is not exec form"))

    exposed = {p.split("/")[0] for i in final_ins if i.keyword == "EXPOSE" for p in i.args.split()}
    if expose not in exposed:
        findings.append(Finding("expose", 0, f"port {expose} is not exposed"))

    for ins in instructions:
        if ins.keyword == "ADD":
            findings.append(
                Finding("DL3020", ins.line, "use COPY, not ADD (ADD fetches URLs and unpacks)")
            )
        if ins.keyword in ("ENV", "ARG"):
            names = _env_pairs(ins.args) if ins.keyword == "ENV" else {ins.args.split("=")[0]: ""}
            for name in names:
                if _SECRET_NAME.search(name):
                    findings.append(
                        Finding("secret-env", ins.line, f"{ins.keyword} {name} bakes a secret in")
                    )
        if ins.keyword == "RUN":
            findings.extend(_lint_run(ins, instructions))
        if ins.keyword == "WORKDIR" and not _expand(ins.args, args).startswith("/"):
            findings.append(Finding("DL3000", ins.line, "WORKDIR must be absolute"))

    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    for ins in final_ins:
        if ins.keyword == "ENV":
            env.update(_env_pairs(ins.args))
        if ins.keyword == "LABEL":
            labels.update(_env_pairs(ins.args))
    if env.get("PYTHONDONTWRITEBYTECODE") != "1":
        findings.append(Finding("bytecode", 0, "final stage must set PYTHONDONTWRITEBYTECODE=1"))
    if not any(k.startswith("org.opencontainers.image.") for k in labels):
        findings.append(Finding("oci-labels", 0, "final stage has no org.opencontainers labels"))
    return findings


def _lint_run(ins: Instruction, instructions: list[Instruction]) -> list[Finding]:
    findings: list[Finding] = []
    command = ins.args
    if re.search(r"(^|[;&|]\s*)sudo\s", command):
        findings.append(Finding("DL3004", ins.line, "do not use sudo"))
    if re.search(r"apt-get\s+(-\S+\s+)*install", command):
        if "rm -rf /var/lib/apt/lists" not in command:
            findings.append(Finding("DL3009", ins.line, "remove /var/lib/apt/lists after install"))
        if "--no-install-recommends" not in command:
            findings.append(Finding("DL3015", ins.line, "apt-get install --no-install-recommends"))
        if not re.search(r"apt-get\s+(\S+\s+)*install\s+(\S+\s+)*(-y|--yes|-qq?y)\b", command) and (
            not re.search(r"apt-get\s+(-\S*y\S*|--yes)\s", command)
        ):
            findings.append(Finding("DL3014", ins.line, "apt-get install needs -y"))
    if re.search(r"pip3?\s+install|-m\s+pip\s+install", command):
        cache_off_env = any(
            i.keyword == "ENV"
            and i.stage == ins.stage
            and i.line < ins.line
            and _env_pairs(i.args).get("PIP_NO_CACHE_DIR") in ("1", "true", "on")
            for i in instructions
        )
        if "--no-cache-dir" not in command and not cache_off_env:
            findings.append(Finding("DL3042", ins.line, "pip install without --no-cache-dir"))
    return findings
