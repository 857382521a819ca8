"""Errors of identity and tenancy (their error_ids are part of the public API)."""

from tongdai.core.errors import Conflict, Forbidden, Unauthenticated


class BadCredentials(Unauthenticated):
    error_id = "bad_credentials"
    message = "wrong e-mail or password"


class AccountLocked(Unauthenticated):
    error_id = "account_locked"
    message = "too many failed log-ins; the account is locked for a while"


class RoleNotGrantable(Forbidden):
    error_id = "role_not_grantable"
    message = "this role cannot be granted by the caller"


class EmailTaken(Conflict):
    error_id = "email_taken"
    message = "a user with this e-mail already exists"
