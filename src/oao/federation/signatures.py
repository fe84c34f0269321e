"""HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530).

Pure: builds the signature base of a request, signs it and verifies it. The
caller supplies the clock, the key lookup and the nonce store, so the rules
(what must be covered, how old a signature may be) are testable in
milliseconds and against the RFC's own test vector (Appendix B.2.6).

Only what OAO federation needs of the RFC is implemented: derived components
@method, @target-uri, @authority, @scheme, @path, @query and plain header
fields (no `;sf`, `;key`, `;bs`, `;req` component parameters), one algorithm
(ed25519). Anything else is refused rather than guessed at.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

LABEL = "oao"
ALG = "ed25519"
# What every federation request must cover: the method and full URI (so a signed
# request cannot be replayed against another endpoint or instance) and the body digest.
REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
REQUIRED_PARAMS = ("created", "keyid", "nonce")
MAX_SKEW_SECONDS = 300
_DERIVED = ("@method", "@target-uri", "@authority", "@scheme", "@path", "@query")
_KEY = re.compile(r"^[a-z*][a-z0-9_\-.*]*$")


class SignatureError(Exception):
    """A request that must be refused; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- keys -------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> bytes:
    """32 random bytes: an Ed25519 private key (seed)."""
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_of(private_raw: bytes) -> str:
    """The public key of a raw private key, base64url without padding (a JWK's `x`)."""
    public = Ed25519PrivateKey.from_private_bytes(private_raw).public_key()
    return b64url(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = b64url_decode(text)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise SignatureError("bad_key", "The public key is not a base64url Ed25519 key.") from exc


def sign_bytes(private_raw: bytes, data: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).sign(data)


def verify_bytes(public_key: str | Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


# --- Content-Digest (RFC 9530) ----------------------------------------------------------

def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def digest_matches(header: str, body: bytes) -> bool:
    """True when the header's sha-256 member matches the body (other algorithms are ignored)."""
    try:
        members = parse_dictionary(header)
    except SignatureError:
        return False
    value = members.get("sha-256")
    return value is not None and value.value == hashlib.sha256(body).digest()


# --- a small Structured Fields (RFC 8941) subset ------------------------------------------

@dataclass
class Item:
    value: object  # str (string or token), int, bytes, bool, or list[Item] for an inner list
    params: dict[str, object] = field(default_factory=dict)


def _ser_bare(value: object) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return f":{base64.b64encode(value).decode()}:"
    if isinstance(value, str):
        if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in value):
            raise SignatureError("malformed", "Only printable ASCII can be signed.")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise SignatureError("malformed", f"Cannot serialise {value!r}.")


def serialize_inner_list(components: Iterable[str], params: Mapping[str, object]) -> str:
    """`("@method" "@target-uri");created=…;keyid="…"`: the value of Signature-Input and @signature-params."""
    inner = "(" + " ".join(_ser_bare(c) for c in components) + ")"
    return inner + "".join(f";{k}" if v is True else f";{k}={_ser_bare(v)}" for k, v in params.items())


class _Parser:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def fail(self, what: str) -> SignatureError:
        return SignatureError("malformed", f"Malformed structured header: {what} at {self.i}.")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_sp(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def key(self) -> str:
        m = re.compile(r"[a-z*][a-z0-9_\-.*]*").match(self.s, self.i)
        if not m:
            raise self.fail("key expected")
        self.i = m.end()
        return m.group()

    def bare(self) -> object:
        ch = self.peek()
        if ch == '"':
            self.i += 1
            out = []
            while True:
                if self.i >= len(self.s):
                    raise self.fail("unterminated string")
                c = self.s[self.i]
                self.i += 1
                if c == "\\":
                    if self.peek() not in ('"', "\\"):
                        raise self.fail("bad escape")
                    out.append(self.s[self.i])
                    self.i += 1
                elif c == '"':
                    return "".join(out)
                else:
                    out.append(c)
        if ch == ":":
            end = self.s.find(":", self.i + 1)
            if end < 0:
                raise self.fail("unterminated byte sequence")
            raw = self.s[self.i + 1:end]
            self.i = end + 1
            try:
                return base64.b64decode(raw, validate=True)
            except ValueError as exc:
                raise self.fail("bad base64") from exc
        if ch == "?":
            self.i += 2
            return self.s[self.i - 1] == "1"
        m = re.compile(r"-?\d{1,15}").match(self.s, self.i)
        if m:
            self.i = m.end()
            return int(m.group())
        m = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*").match(self.s, self.i)
        if m:
            self.i = m.end()
            return m.group()
        raise self.fail("value expected")

    def params(self) -> dict[str, object]:
        out: dict[str, object] = {}
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            k = self.key()
            if self.peek() == "=":
                self.i += 1
                out[k] = self.bare()
            else:
                out[k] = True
        return out

    def item_or_inner(self) -> Item:
        if self.peek() == "(":
            self.i += 1
            items: list[Item] = []
            while True:
                self.skip_sp()
                if self.peek() == ")":
                    self.i += 1
                    break
                if not self.peek():
                    raise self.fail("unterminated inner list")
                items.append(Item(self.bare(), self.params()))
                if self.peek() not in (" ", ")"):
                    raise self.fail("space or ) expected")
            return Item(items, self.params())
        return Item(self.bare(), self.params())


def parse_dictionary(text: str) -> dict[str, Item]:
    """An RFC 8941 dictionary; anything unparsable is a SignatureError, never another exception."""
    try:
        return _parse_dictionary(text)
    except SignatureError:
        raise
    except (IndexError, ValueError, UnicodeError) as exc:
        raise SignatureError("malformed", f"Malformed structured header: {exc}.") from None


def _parse_dictionary(text: str) -> dict[str, Item]:
    p = _Parser(text.strip())
    out: dict[str, Item] = {}
    while p.peek():
        k = p.key()
        if p.peek() == "=":
            p.i += 1
            out[k] = p.item_or_inner()
        else:
            out[k] = Item(True, p.params())
        p.skip_sp()
        if not p.peek():
            break
        if p.peek() != ",":
            raise p.fail(", expected")
        p.i += 1
        p.skip_sp()
    return out


# --- the signature base ---------------------------------------------------------------------

Headers = Mapping[str, str] | Mapping[str, list[str]] | Iterable[tuple[str, str]]


def _headers(headers: Headers) -> dict[str, list[str]]:
    """Field values by lower-case name (a field sent several times keeps every line)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        out.setdefault(name.lower(), []).extend(v.strip() for v in values)
    return out


def component_value(name: str, *, method: str, url: str, headers: dict[str, list[str]]) -> str:
    """The value of one covered component (RFC 9421 section 2)."""
    if name.startswith("@"):
        parts = urlsplit(url)
        if name == "@method":
            return method.upper()
        if name == "@target-uri":
            return url
        if name == "@scheme":
            return parts.scheme.lower()
        if name == "@authority":
            host = (parts.hostname or "").lower()
            default = {"http": 80, "https": 443}.get(parts.scheme.lower())
            return host if parts.port in (None, default) else f"{host}:{parts.port}"
        if name == "@path":
            return parts.path or "/"
        if name == "@query":
            return "?" + parts.query
        raise SignatureError("malformed", f"Unsupported derived component {name!r}.")
    values = headers.get(name)
    if values is None:
        raise SignatureError("malformed", f"Covered header {name!r} is missing from the request.")
    return ", ".join(values)


def signature_base(components: list[str], params: Mapping[str, object], *, method: str, url: str,
                   headers: Headers) -> str:
    """The exact text that is signed: one line per covered component, then @signature-params."""
    hdrs = _headers(headers)
    if len(set(components)) != len(components):
        raise SignatureError("malformed", "A component is covered twice.")
    lines = []
    for name in components:
        if name != name.lower() or (name.startswith("@") and name not in _DERIVED) or not _KEY.match(
                name.lstrip("@")):
            raise SignatureError("malformed", f"Unsupported component identifier {name!r}.")
        lines.append(f'"{name}": {component_value(name, method=method, url=url, headers=hdrs)}')
    lines.append(f'"@signature-params": {serialize_inner_list(components, params)}')
    return "\n".join(lines)


@dataclass(frozen=True)
class Verified:
    key_id: str
    nonce: str
    created: int
    components: tuple[str, ...]


def sign_request(*, method: str, url: str, headers: Mapping[str, str], body: bytes, private_key: bytes,
                 key_id: str, created: int, nonce: str, components: tuple[str, ...] = REQUIRED_COMPONENTS,
                 label: str = LABEL) -> dict[str, str]:
    """The headers to add: Content-Digest (when covered and absent), Signature-Input and Signature."""
    out: dict[str, str] = {}
    all_headers = dict(headers)
    if "content-digest" in components and not any(h.lower() == "content-digest" for h in headers):
        out["Content-Digest"] = all_headers["Content-Digest"] = content_digest(body)
    params: dict[str, object] = {"created": created, "keyid": key_id, "nonce": nonce, "alg": ALG}
    base = signature_base(list(components), params, method=method, url=url, headers=all_headers)
    signature = sign_bytes(private_key, base.encode())
    out["Signature-Input"] = f"{label}={serialize_inner_list(components, params)}"
    out["Signature"] = f"{label}={_ser_bare(signature)}"
    return out


def verify_request(*, method: str, url: str, headers: Headers, body: bytes,
                   resolve_key: Callable[[str], str | None], now: int, max_skew: int = MAX_SKEW_SECONDS,
                   required_components: tuple[str, ...] = REQUIRED_COMPONENTS, label: str | None = None) -> Verified:
    """Check a request's signature; raises SignatureError (unsigned, malformed, stale, unknown_key,
    bad_signature, digest_mismatch). The nonce is returned for the caller's replay store."""
    hdrs = _headers(headers)
    if "signature-input" not in hdrs or "signature" not in hdrs:
        raise SignatureError("unsigned", "The request is not signed (Signature-Input and Signature headers).")
    inputs = parse_dictionary(", ".join(hdrs["signature-input"]))
    signatures = parse_dictionary(", ".join(hdrs["signature"]))
    chosen = label if label is not None else next(iter(inputs), None)
    if chosen is None or chosen not in inputs or chosen not in signatures:
        raise SignatureError("unsigned", f"No signature labelled {chosen!r}.")
    spec, sig = inputs[chosen], signatures[chosen]
    if not isinstance(spec.value, list) or not isinstance(sig.value, bytes):
        raise SignatureError("malformed", "Signature-Input must be an inner list and Signature a byte sequence.")
    components = []
    for item in spec.value:
        if not isinstance(item.value, str) or item.params:
            raise SignatureError("malformed", "Covered components must be plain strings.")
        components.append(item.value)
    missing = [c for c in required_components if c not in components]
    if missing:
        raise SignatureError("malformed", f"The signature must cover {', '.join(missing)}.")
    params = spec.params
    absent = [p for p in REQUIRED_PARAMS if p not in params]
    if absent:
        raise SignatureError("malformed", f"The signature needs the parameters {', '.join(absent)}.")
    created, key_id, nonce = params["created"], params["keyid"], params["nonce"]
    if not isinstance(created, int) or not isinstance(key_id, str) or not isinstance(nonce, str) or not nonce:
        raise SignatureError("malformed", "created must be an integer, keyid and nonce strings.")
    if params.get("alg", ALG) != ALG:
        raise SignatureError("malformed", f"Only alg={ALG} is accepted.")
    if abs(now - created) > max_skew:
        raise SignatureError("stale", f"The signature was created {now - created} s from now; at most "
                                      f"{max_skew} s either way is accepted.")
    expires = params.get("expires")
    if isinstance(expires, int) and expires < now:
        raise SignatureError("stale", "The signature has expired.")
    public_key = resolve_key(key_id)
    if public_key is None:
        raise SignatureError("unknown_key", f"Key {key_id!r} is not linked with this instance.")
    base = signature_base(components, params, method=method, url=url, headers=hdrs)
    if not verify_bytes(public_key, sig.value, base.encode()):
        raise SignatureError("bad_signature", "The signature does not match the request.")
    if "content-digest" in components and not digest_matches(", ".join(hdrs["content-digest"]), body):
        raise SignatureError("digest_mismatch", "The body does not match its Content-Digest.")
    return Verified(key_id=key_id, nonce=nonce, created=created, components=tuple(components))
