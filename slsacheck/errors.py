"""The one error root of slsacheck, and its families by who is at fault.

Every error says what failed, what was expected, what was found, and what to do next
(`hint`). Foreign exceptions (requests, oras, cryptography, sigstore, yaml) are wrapped
at the boundary where they enter, so callers only ever catch `slsacheck.errors.Error`.

Exit codes follow the families: input and usage errors are 2, a verification or policy
failure is 1, and anything that kept a check from completing (registry down, timeout)
is 3. A check that could not complete never counts as a pass.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


def diagnostic_lines(message: str, *, expected: str | None, found: str | None, hint: str | None) -> list[str]:
    """The facts of a failure, one a line: what failed, expected, found, what to do."""
    parts = [message]
    if expected is not None:
        parts.append(f"expected: {expected}")
    if found is not None:
        parts.append(f"found: {found}")
    if hint:
        parts.append(f"hint: {hint}")
    return parts


class Error(Exception):
    """Root of every error slsacheck raises on purpose."""

    exit_code = EXIT_INCOMPLETE

    def __init__(
        self,
        message: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint

    def diagnostics(self) -> str:
        """The whole story on one line per fact, for people."""
        return "\n  ".join(diagnostic_lines(self.message, expected=self.expected, found=self.found, hint=self.hint))

    def __str__(self) -> str:
        # Only the facts there are: "expected None" would read as a value someone expected.
        facts = [f"{label} {value}" for label, value in (("expected", self.expected), ("found", self.found))
                 if value is not None]
        return f"{self.message} ({', '.join(facts)})" if facts else self.message


# -- the user's input is wrong ------------------------------------------------------


class InputError(Error):
    """Something the user gave us (a reference, a file, a flag, a key) is malformed."""

    exit_code = EXIT_USAGE


class InvalidReference(InputError):
    """An image reference that does not parse."""


class InvalidKey(InputError):
    """A key file or key reference that cannot be read or used."""


class PolicyError(InputError):
    """A policy file that does not load."""


# -- the outside world failed us ----------------------------------------------------


class RegistryError(Error):
    """A registry answered with an error, or could not be reached."""

    exit_code = EXIT_INCOMPLETE

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        repository: str | None = None,
        status: int | None = None,
        codes: tuple[str, ...] = (),
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, expected=expected, found=found, hint=hint)
        self.registry = registry
        self.repository = repository
        self.status = status
        self.codes = codes


class NotFound(RegistryError):
    """The manifest, blob, tag or repository does not exist (HTTP 404, or absent in a layout)."""


class AuthError(RegistryError):
    """The registry refused our credentials (401/403)."""


class TLSError(RegistryError):
    """The TLS handshake failed: unknown CA, wrong host name, or a plain-HTTP server."""


class StoreError(RegistryError):
    """An OCI image layout directory is unreadable or inconsistent."""


class KeyServiceError(Error):
    """A key held elsewhere (a PKCS#11 token, a KMS) could not be reached or would not sign.

    A key reference that is wrong (no such object, a wrong PIN, a module that does not
    load) is an `InvalidKey` instead: this family is for what a retry may fix.
    """

    exit_code = EXIT_INCOMPLETE


# -- the content is not what it claims to be ------------------------------------------


class IntegrityError(Error):
    """Bytes that do not match what they must match: a security failure, never retried."""

    exit_code = EXIT_POLICY


class DigestMismatch(IntegrityError):
    """Content whose digest is not the one asked for."""

    def __init__(self, what: str, *, expected: str, found: str, hint: str | None = None) -> None:
        super().__init__(
            f"digest mismatch for {what}",
            expected=expected,
            found=found,
            hint=hint
            or "the source returned other bytes than the digest names; do not trust this source "
            "for this content (a proxy or cache in between may be rewriting it)",
        )


class TooLarge(IntegrityError):
    """Content larger than the cap for its kind."""


class VerificationError(Error):
    """A signature, certificate, transparency-log entry or attestation did not verify."""

    exit_code = EXIT_POLICY
