"""Authentication and authorisation of every request: ``require(permission)`` is the dependency
each route declares (401 without a valid token, 403 when the role lacks the permission)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mynacard.service.identity import Identity
from mynacard.service.roles import Permission, may, roles_with
from mynacard.service.state import Service

bearer = HTTPBearer(
    auto_error=False,
    description="a staff token from 'mynacard token create' (or an OIDC authenticator's token)",
)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Identity:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            401, "send 'Authorization: Bearer <token>' (an admin makes one: mynacard token create)"
        )
    identity = service_of(request).authenticator.authenticate(credentials.credentials.strip())
    if identity is None:
        raise HTTPException(401, "the token is unknown or revoked; ask an admin for a new one")
    request.state.identity = identity
    return identity


def require(permission: Permission) -> Any:
    """The dependency of a route that needs ``permission``: the caller's identity."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Identity:
        identity = authenticate(request, credentials)
        if not may(identity.role, permission):
            allowed = ", ".join(r.value for r in roles_with(permission))
            raise HTTPException(
                403,
                f"role {identity.role.value} may not do this ({permission.value}); roles that may: {allowed}",
            )
        return identity

    return Depends(check)


def signed_in() -> Any:
    """The dependency of a route any authenticated caller may use."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Identity:
        return authenticate(request, credentials)

    return Depends(check)
