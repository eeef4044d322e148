"""Application permissions (app roles) that let an app-only token call each emulated Graph endpoint."""

from __future__ import annotations

DIRECTORY_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})
READ_USERS = frozenset({"User.Read.All", "User.ReadWrite.All"}) | DIRECTORY_READ
READ_GROUPS = frozenset({"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All"}) | DIRECTORY_READ
READ_ORGANIZATION = frozenset({"Organization.Read.All", "Organization.ReadWrite.All"}) | DIRECTORY_READ
READ_DOMAINS = frozenset({"Domain.Read.All", "Domain.ReadWrite.All"}) | DIRECTORY_READ
WRITE_USERS = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
# Resetting a password app-only: the dedicated permission, or a broad write permission plus a directory role.
WRITE_PASSWORD = frozenset({"User-PasswordProfile.ReadWrite.All"})
