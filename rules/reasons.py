"""Rule 4: every reason maps to one master list; an unknown reason holds only the refund.

A line's reason (the platform's code, else the customer's text) is looked up in the mappings.
If nobody has mapped it yet, an `unknown_reason` exception goes to merchandising (one per
distinct raw reason on the return) and the return's REFUND waits; its stock handling, return
record and exchange do not. Reclassifying is a mapping change: the next plan finds the code,
closes the exception and releases the refund. A person who resolves the exception without
mapping it releases the refund too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rules.facts import Facts
from rules.lifecycle import ExceptionType
from rules.mappings import Mappings, normalise_reason
from rules.outputs import ExceptionToOpen, exception_key
from rules.policy import Policy


@dataclass
class ReasonVerdict:
    codes: dict[str, str | None] = field(default_factory=dict)  # line_id -> master code
    unresolved: list[str] = field(default_factory=list)  # raw reasons still holding the refund
    exceptions: list[ExceptionToOpen] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    @property
    def all_mapped(self) -> bool:
        return all(code is not None for code in self.codes.values())

    @property
    def holds_refund(self) -> bool:
        return bool(self.unresolved)


def reason_subject(raw: str) -> str:
    """A key-safe form of a raw reason: 'Too  Small!' -> 'too-small'."""
    return re.sub(r"[^0-9a-z]+", "-", normalise_reason(raw)).strip("-") or "none"


def map_reasons(facts: Facts, policy: Policy, mappings: Mappings) -> ReasonVerdict:
    ret = facts.ret
    verdict = ReasonVerdict()
    owner = policy.owner(ExceptionType.UNKNOWN_REASON)
    seen: set[str] = set()
    for line in ret.lines:
        code = mappings.map_reason(line, ret.platform)
        verdict.codes[line.line_id] = code
        if code is not None:
            continue
        raw = line.raw_reason.strip() or (line.platform_reason_code or "").strip()
        subject = reason_subject(raw)
        if subject in seen:
            continue
        seen.add(subject)
        key = exception_key(ret.return_id, ExceptionType.UNKNOWN_REASON, subject)
        shown = repr(raw) if raw else "(no reason given)"
        if facts.resolved(key):
            verdict.decisions.append(f"Reason {shown} is still unmapped but a person resolved it: "
                                     "the refund may go (rule: reason codes)")
            continue
        verdict.unresolved.append(raw)
        verdict.decisions.append(f"Reason {shown} on {line.sku} is not mapped to a master reason: "
                                 f"{owner} must classify it; only the refund waits "
                                 "(rule: reason codes)")
        verdict.exceptions.append(ExceptionToOpen(
            key, ExceptionType.UNKNOWN_REASON, owner, ret.return_id,
            f"Unknown return reason {shown} ({ret.platform}); map it to one of "
            f"{list(mappings.master_reasons)}"))
    return verdict
