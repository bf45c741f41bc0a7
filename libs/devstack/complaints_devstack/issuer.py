"""A local OpenID Connect token issuer for `make run` and the tests: its own RSA signing key, the
JWKS the services verify against (a file), and tokens for a tenant, a person and a role.

    complaints-dev token --tenant crm-dev --sub agent-7 --role agent

The issuer is `urn:complaints:dev-issuer`; a service started with `<SVC>_PRODUCTION=true` refuses it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from complaints_common.settings import DEV_ISSUER

AUDIENCE = "complaints-api"
ALGORITHM = "RS256"


class DevIssuer:
    """Keys kept in `directory` (made on first use), so tokens minted by the CLI verify at services
    started by `make run` from the same run directory."""

    def __init__(self, directory: Path, issuer: str = DEV_ISSUER, audience: str = AUDIENCE) -> None:
        self.directory, self.issuer, self.audience = directory, issuer, audience
        self.key_file = directory / "signing-key.pem"
        self.jwks_file = directory / "jwks.json"
        self._key = self._load_or_create()
        self.kid = json.loads(self.jwks_file.read_text())["keys"][0]["kid"]

    def _load_or_create(self) -> rsa.RSAPrivateKey:
        if self.key_file.exists() and self.jwks_file.exists():
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return key
        self.directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.key_file.write_bytes(pem)
        self.key_file.chmod(0o600)
        self.jwks_file.write_text(json.dumps(public_jwks(key, f"dev-{uuid4().hex[:8]}")))
        return key

    def settings(self) -> dict[str, Any]:
        """The services' `auth` settings that trust this issuer."""
        return {"issuer": self.issuer, "audience": self.audience, "jwks_file": str(self.jwks_file)}

    def env_settings(self) -> dict[str, str]:
        """The same as service settings named without the service's prefix (`AUTH__ISSUER`...)."""
        return {f"AUTH__{name.upper()}": str(value) for name, value in self.settings().items()}

    def token(
        self,
        tenant: str,
        sub: str,
        role: str | None = "agent",
        /,
        *,
        ttl_s: int = 3600,
        audience: str | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; `claims` override or add any claim, `role` too (tests make bad ones)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or self.audience,
            "sub": sub,
            "client_id": tenant,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid4().hex,
        }
        if role is not None:
            payload["role"] = role
        payload.update(claims)
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


def public_jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}]}
