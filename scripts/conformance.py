#!/usr/bin/env python3
"""Builds docs/conformance.md: every product rule (R-…) and the tests that prove it.

A test proves a rule when its function name starts with the rule ID in snake case, e.g.
`r_jwt_04_audience_array` proves R-JWT-04. `--check` fails when the committed document is
stale, so the map cannot drift from the code (`make test` runs it).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"

# (rule ID, one-line summary) — the rules of the product requirements, in order.
RULES = [
    ("R-CFG-01", "One IDP per app; a second is rejected"),
    ("R-CFG-02", "Kinds: auth0, clerk, okta, custom_oidc"),
    ("R-CFG-03", "Discovery requires the exact issuer; nothing saved on failure; preview"),
    ("R-CFG-04", "Provider recognised from the issuer URL"),
    ("R-CFG-05", "Brokered-only providers rejected, naming the provider"),
    ("R-CFG-06", "Audience required; aud string or array"),
    ("R-CFG-07", "Claim mappings; names may contain dots and slashes"),
    ("R-CFG-08", "Claim mappings lock after the first authentication"),
    ("R-CFG-09", "Group-grant eligibility per provider"),
    ("R-CFG-10", "OIDC sign-in settings; Clerk development instance rejected"),
    ("R-CFG-11", "Secrets encrypted at rest; bearer tokens hashed; never logged"),
    ("R-JWT-01", "Asymmetric algorithms only; key alg/kty agree with the header"),
    ("R-JWT-02", "iss equals the configured issuer exactly"),
    ("R-JWT-03", "exp required; nbf/iat honoured; leeway"),
    ("R-JWT-04", "Audience as in R-CFG-06"),
    ("R-JWT-05", "JWKS cached; rate-limited refetch on unknown kid; stale keys while down"),
    ("R-JWT-06", "Unknown user provisioned just in time, audited"),
    ("R-JWT-07", "Group claim records memberships; visibility-only where ineligible"),
    ("R-JWT-08", "Suspended or deprovisioned user refused"),
    ("R-JWT-09", "Answer carries user, groups and active grants only"),
    ("R-JWT-10", "Revocation/suspension visible to the very next verify on every replica"),
    ("R-JWT-11", "JWKS outage never a bad token: bounded stale window, then UNAVAILABLE naming the IDP"),
    ("R-JWT-12", "Refusals in the standard gRPC error model (google.rpc.Status details)"),
    ("R-HOOK-01", "Enabling webhooks per provider"),
    ("R-HOOK-02", "Auth0 log streams: auth, three body formats, sdu/ublkdu"),
    ("R-HOOK-03", "Clerk (Svix) signatures and events"),
    ("R-HOOK-04", "Okta verification challenge and event hooks"),
    ("R-HOOK-05", "Custom OIDC webhooks"),
    ("R-HOOK-06", "2xx only once durable; redeliveries have no second effect"),
    ("R-HOOK-07", "Bad input gets a clear status and changes nothing"),
    ("R-HOOK-08", "Every delivery recorded in a delivery log; unparseable authentic records kept as rejected"),
    ("R-DIR-01", "Directory credentials verified before they are stored"),
    ("R-DIR-02", "What is imported per provider, and status mapping"),
    ("R-DIR-03", "Runs on demand and every 6 hours"),
    ("R-DIR-04", "Absentees deprovisioned only after a complete listing"),
    ("R-DIR-05", "Run outcomes recorded and readable"),
    ("R-DIR-06", "Imported/updated/deprovisioned users audited"),
    ("R-DIR-07", "Provider rate limits and paging honoured"),
    ("R-DIR-08", "Safety valve holds a run that would deprovision too much; dry run"),
    ("R-DIR-09", "Per-IDP request budget caps what a sync sends"),
    ("R-REV-01", "Grants bound to user, group or system"),
    ("R-REV-02", "Deprovisioning revokes the user's grants"),
    ("R-REV-03", "Suspension hides grants without revoking"),
    ("R-REV-04", "Removing a member ends access through the group's grants"),
    ("R-REV-05", "Deleting a group revokes its grants"),
    ("R-REV-06", "Every revocation records its cause"),
    ("R-AUD-01", "The audit trail records every provisioning change with source and event ID"),
    ("R-AUD-02", "Audit writing is idempotent"),
    ("R-AUD-03", "Append-only, readable per app, filtered"),
    ("R-AUD-04", "Each app's trail is hash-chained; verify names the first broken row"),
    ("R-AUD-05", "Every admin change recorded once with the admin token's identity"),
    ("R-OIDC-01", "Authorization-code sign-in with PKCE, state and nonce"),
]

TEST_FN = re.compile(r"\bfn\s+(r_[a-z]+_\d\d_[a-z0-9_]*)\s*\(")
# A test may prove several rules: `r_jwt_07_r_cfg_09_…` proves R-JWT-07 and R-CFG-09.
RULE_IN_NAME = re.compile(r"(?:^|_)r_([a-z]+)_(\d\d)(?=_|$)")


def find_tests():
    found = {}
    for path in sorted(ROOT.glob("crates/**/*.rs")) + sorted(ROOT.glob("tests/**/*.rs")):
        if "target" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for m in TEST_FN.finditer(text):
            rel = path.relative_to(ROOT).as_posix()
            for r in RULE_IN_NAME.finditer(m.group(1)):
                rule = f"R-{r.group(1).upper()}-{r.group(2)}"
                found.setdefault(rule, []).append(f"`{rel}` `{m.group(1)}`")
    return found


def render(found):
    lines = [
        "# Conformance: product rules → tests",
        "",
        "Generated by `scripts/conformance.py` from test names (`r_<area>_<nn>_…` proves",
        "R-AREA-NN; a name may chain several); `make test` fails when this file is stale. A rule with no test is not yet",
        "built or not yet proven.",
        "",
    ]
    covered = sum(1 for rule, _ in RULES if rule in found)
    lines.append(f"{covered} of {len(RULES)} rules have at least one test.")
    lines.append("")
    lines.append("| rule | what | tests |")
    lines.append("|---|---|---|")
    for rule, summary in RULES:
        tests = found.get(rule)
        cell = "<br>".join(tests) if tests else "**not yet covered**"
        lines.append(f"| {rule} | {summary} | {cell} |")
    unknown = sorted(set(found) - {r for r, _ in RULES})
    if unknown:
        lines.append("")
        lines.append("Tests named after rules that do not exist: " + ", ".join(unknown))
    return "\n".join(lines) + "\n"


def main():
    text = render(find_tests())
    if "--check" in sys.argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print("docs/conformance.md is stale: run `python3 scripts/conformance.py`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
