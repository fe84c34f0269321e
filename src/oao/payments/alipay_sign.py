"""Alipay OpenAPI signatures (sign_type RSA2): SHA256withRSA, PKCS#1 v1.5, base64.

What is signed, as Alipay documents it:
- a request: every parameter except `sign`, with a non-empty value, sorted by name and
  joined as `k=v&k=v` (values raw, not URL-encoded);
- a response: the exact JSON text of the `<method>_response` member, as received;
- an asynchronous notification: every form parameter except `sign` and `sign_type`,
  sorted and joined the same way as a request.

Pure: keys come in as PEM/DER bytes, nothing here reads files or talks to the network.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class AlipayKeyError(ValueError):
    """A key file that is not an RSA key in a form Alipay's tools produce."""


def _der_or_pem(data: bytes) -> tuple[bytes, bool]:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        return text, True
    # Alipay's key tool and console hand out bare base64 without PEM markers.
    try:
        return base64.b64decode(b"".join(text.split()), validate=True), False
    except binascii.Error:
        raise AlipayKeyError("The key is neither PEM nor base64 DER.") from None


def load_private_key(data: bytes) -> rsa.RSAPrivateKey:
    """Read the application's RSA private key: PKCS#8 or PKCS#1, PEM or bare base64."""
    raw, pem = _der_or_pem(data)
    try:
        key = (serialization.load_pem_private_key(raw, password=None) if pem
               else serialization.load_der_private_key(raw, password=None))
    except (ValueError, TypeError) as exc:
        raise AlipayKeyError(f"Cannot read the application private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AlipayKeyError("The application private key is not an RSA key (sign_type RSA2 needs RSA).")
    return key


def load_public_key(data: bytes) -> rsa.RSAPublicKey:
    """Read Alipay's RSA public key: SubjectPublicKeyInfo or PKCS#1, PEM or bare base64."""
    raw, pem = _der_or_pem(data)
    try:
        key = serialization.load_pem_public_key(raw) if pem else serialization.load_der_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise AlipayKeyError(f"Cannot read Alipay's public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AlipayKeyError("Alipay's public key is not an RSA key.")
    return key


def sign_content(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    """The string Alipay signs: non-empty parameters outside `exclude`, sorted by name, as k=v&k=v."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != "")


def rsa2_sign(private_key: rsa.RSAPrivateKey, content: str) -> str:
    """SHA256withRSA over the UTF-8 bytes of `content`, base64."""
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(public_key: rsa.RSAPublicKey, content: str | bytes, signature: str) -> bool:
    """Whether `signature` (base64) is SHA256withRSA over `content` by `public_key`."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def signed_response_node(text: str, method: str) -> tuple[str | None, str | None, dict]:
    """Split a gateway answer into (exact node text, sign, parsed node).

    The node is `<method with dots as underscores>_response`, or `error_response` when the
    gateway refused the call before reaching the method. The text is cut from the raw answer
    rather than re-serialised, because the signature covers the bytes Alipay sent.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None, None, {}
    if not isinstance(document, dict):
        return None, None, {}
    sign = document.get("sign") if isinstance(document.get("sign"), str) else None
    for key in (method.replace(".", "_") + "_response", "error_response"):
        if isinstance(document.get(key), dict):
            marker = json.dumps(key)
            at = text.find(marker)
            while at != -1:
                colon = at + len(marker)
                while colon < len(text) and text[colon] in " \t\r\n":
                    colon += 1
                if colon < len(text) and text[colon] == ":":
                    start = colon + 1
                    while start < len(text) and text[start] in " \t\r\n":
                        start += 1
                    try:
                        value, end = json.JSONDecoder().raw_decode(text, start)
                    except json.JSONDecodeError:
                        break
                    if value == document[key]:  # the top-level member, not a look-alike nested deeper
                        return text[start:end], sign, document[key]
                at = text.find(marker, at + 1)
            return None, sign, document[key]
    return None, sign, {}
