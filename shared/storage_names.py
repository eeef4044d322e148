"""Names of every table and queue the app uses; infra/ creates exactly these (a test compares them)."""

from __future__ import annotations

# Tables (alphanumeric, 3-63 characters, starting with a letter)
# PK "connection", RK connection id (purge progress in `purge_json` while purging); PK "tenant", RK tenant id: the
# tenant index (which connections a tenant has, what group each rotates); PK "ad-domain", RK an AD domain's DNS name:
# its one connection (shared/services/ad_domains.py)
CONNECTIONS = "connections"
AUDIT = "audit"  # PK connection id (or "deployment"), and a copy of every row in PK "all"; RK inverted time + id
CONSENT_STATES = (
    "consentstates"  # PK "state", RK nonce: single-use consent states; "signing-key"/"current": key version
)
SYNC_STATE = "syncstate"  # PK connection id, RK cursor-users / cursor-groups / lease / job ...
# ... and PK SCHEDULER_SLOTS, RK connection id: the scheduler's marker of the latest slot it enqueued (one partition,
# so a tick writes every due connection's marker 100 to a transaction)
SCHEDULER_SLOTS = "scheduler"
SYNC_RUNS = "syncruns"  # PK connection id, RK inverted start time + run id
DIRECTORY_USERS = "dirusers"  # PK connection id, RK user id
DIRECTORY_GROUPS = "dirgroups"  # PK connection id, RK group id
DIRECTORY_MEMBERS = "dirmembers"  # PK connection id + "_" + group id, RK member id
ROTATION_STATE = "rotationstate"  # PK connection id, RK user id: last rotation, lock, pending version
ROTATION_HISTORY = "rotationhistory"  # PK connection id + "_" + user id, RK inverted time
ROTATION_OWNERS = "rotationowners"  # PK tenant id, RK user id: the one connection that rotates that user
# On-prem agents, every row with `connection_id`: PK "agent", RK agent id (keys, last contact); PK "code", RK the
# registration code's SHA-256 (never the code); PK "jobs_" + connection id, RK time-ordered job id (lease, result);
# PK "parts_" + connection id + "_" + job id, RK part number: a large answer's parts until its job is done
AGENTS = "agents"
AGENT_NONCES = "agentnonces"  # PK agent id, RK zero-padded timestamp + "_" + nonce: replay refusal, kept 2 x skew

TABLES = (
    CONNECTIONS,
    AUDIT,
    CONSENT_STATES,
    SYNC_STATE,
    SYNC_RUNS,
    DIRECTORY_USERS,
    DIRECTORY_GROUPS,
    DIRECTORY_MEMBERS,
    ROTATION_STATE,
    ROTATION_HISTORY,
    ROTATION_OWNERS,
    AGENTS,
    AGENT_NONCES,
)

# Queues (lowercase letters, digits, dashes)
SYNC_JOBS = "sync-jobs"  # one message per connection sync job (or continuation)
ROTATION_JOBS = "rotation-jobs"  # one message per connection rotation job
DIRECTORY_CHANGES = "directory-changes"  # the change feed for the rest of the product
PURGE_JOBS = "purge-jobs"  # one message per connection purge job (or continuation)
SYNC_FANOUT = "sync-fanout"  # the scheduler's due connections, 100 a message, when many are due at once

QUEUES = (SYNC_JOBS, ROTATION_JOBS, DIRECTORY_CHANGES, PURGE_JOBS, SYNC_FANOUT)
