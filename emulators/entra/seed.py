"""Deterministic synthetic tenants from (seed, size): users, nested groups, sync and rotation scopes, apps."""

from __future__ import annotations

import hashlib
import itertools
import random
import string
import uuid
from pathlib import Path
from typing import Any

from emulators.entra import names
from emulators.entra.certs import make_certificate
from emulators.entra.clouds import REGISTRIES, cloud_info
from emulators.entra.model import (
    USER_ADMIN,
    App,
    Certificate,
    DirectoryObject,
    Group,
    Link,
    OtherKind,
    Secret,
    ServicePrincipal,
    User,
)
from emulators.entra.reset_rights import within_user_admin_reach
from emulators.entra.state import Tenant, World

DEFAULT_REDIRECT_URI = "http://localhost:7071/api/consent/callback"
CUSTOMER_PERMISSIONS = ("User.Read.All", "GroupMember.Read.All", "User-PasswordProfile.ReadWrite.All")
OPERATOR_PERMISSIONS = CUSTOMER_PERMISSIONS
TWO_YEARS = 2 * 365 * 24 * 3600.0
BIG_GROUP_THRESHOLD = 50_000


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def guid_from(text: str) -> str:
    """A stable GUID derived from a string (service principal ids created at consent time)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, text))


def seeded_admin_password(seed: str, tenant_id: str) -> str:
    """The seeded Global Administrator's password (deterministic, so `make console` can print it): what the
    sign-in page (emulators/entra/signin_page.py) checks when it is on."""
    return "Adm1n-" + hashlib.sha256(f"{seed}|{tenant_id}|admin-password".encode()).hexdigest()[:14]


def secret_value(rng: random.Random) -> str:
    """Looks like an Entra client secret value: 3 characters, '8Q~', then 34 more."""
    alphabet = string.ascii_letters + string.digits + "~_.-"
    return "".join(rng.choices(alphabet, k=3)) + "8Q~" + "".join(rng.choices(alphabet, k=34))


def _user(rng: random.Random, index: int, domain: str) -> User:
    given, given_ascii = names.GIVEN_NAMES[rng.randrange(len(names.GIVEN_NAMES))]
    surname, surname_ascii = names.SURNAMES[rng.randrange(len(names.SURNAMES))]
    upn = f"{given_ascii}.{surname_ascii}{index}@{domain}"
    uid = guid(rng)
    roll = rng.random()
    props: dict[str, Any] = {
        "id": uid,
        "businessPhones": [],
        "displayName": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
        "jobTitle": names.JOB_TITLES[rng.randrange(len(names.JOB_TITLES))],
        "mail": upn,
        "mobilePhone": None,
        "officeLocation": names.OFFICES[rng.randrange(len(names.OFFICES))],
        "preferredLanguage": "en-US",
        "userPrincipalName": upn,
        "department": names.DEPARTMENTS[rng.randrange(len(names.DEPARTMENTS))],
        "accountEnabled": roll >= 0.06,
        "onPremisesSyncEnabled": True if 0.06 <= roll < 0.18 else None,
        "userType": "Member",
        "mailNickname": upn.split("@", 1)[0],
        "createdDateTime": "2023-03-01T08:00:00Z",
    }
    roles = (names.ADMIN_ROLES[rng.randrange(len(names.ADMIN_ROLES))],) if rng.random() < 0.02 else ()
    return User(id=uid, props=props, roles=roles)


def _tenant_admin(rng: random.Random, tenant: Tenant) -> User:
    """The tenant's Global Administrator (every tenant has one: whoever created it), in no group, so outside
    every sync and rotation scope. The emulated browser is signed in with this account unless told otherwise."""
    uid = guid(rng)
    upn = f"admin@{tenant.domains[0]}"
    props: dict[str, Any] = {
        "id": uid,
        "businessPhones": [],
        "displayName": f"{tenant.display_name} Administrator",
        "givenName": "Tenant",
        "surname": "Administrator",
        "jobTitle": "IT Administrator",
        "mail": upn,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "userPrincipalName": upn,
        "department": "IT",
        "accountEnabled": True,
        "onPremisesSyncEnabled": None,
        "userType": "Member",
        "mailNickname": "admin",
        "createdDateTime": "2023-01-01T08:00:00Z",
    }
    return User(id=uid, props=props, roles=("Global Administrator",))


def group_props(gid: str, name: str, description: str = "", created: str = "2023-02-01T08:00:00Z") -> dict[str, Any]:
    """A security group's properties as Graph returns them (seeded groups and groups made through control)."""
    nickname = "".join(ch for ch in name.lower() if ch.isalnum())[:40] or "group"
    return {
        "id": gid,
        "createdDateTime": created,
        "description": description or name,
        "displayName": name,
        "groupTypes": [],
        "mail": None,
        "mailEnabled": False,
        "mailNickname": nickname,
        "securityEnabled": True,
        "visibility": None,
    }


def _group(rng: random.Random, name: str, description: str = "") -> Group:
    props = group_props(guid(rng), name, description)
    return Group(id=props["id"], props=props)


def _link(parent: Group, member_id: str, kind: str) -> None:
    parent.links[member_id] = Link("user" if kind == "user" else "group", 1)


def object_props(kind: OtherKind, oid: str, name: str, rng: random.Random) -> dict[str, Any]:
    """A device, service principal or organizational contact as Graph returns it (seeded and made through control)."""
    if kind == "device":
        return {
            "id": oid,
            "accountEnabled": True,
            "deviceId": guid(rng),
            "displayName": name,
            "operatingSystem": "Windows",
            "operatingSystemVersion": "10.0.22631.3447",
            "trustType": "AzureAd",
        }
    if kind == "servicePrincipal":
        return {
            "id": oid,
            "accountEnabled": True,
            "appId": guid(rng),
            "appDisplayName": name,
            "displayName": name,
            "servicePrincipalType": "Application",
        }
    nickname = "".join(ch for ch in name.lower() if ch.isalnum())[:40] or "contact"
    given, _, surname = name.partition(" ")
    return {
        "id": oid,
        "displayName": name,
        "givenName": given,
        "surname": surname,
        "mail": f"{nickname}@partner.example.net",
        "mailNickname": nickname,
        "companyName": "Partner Ltd",
    }


# (kind, name, index of the group it joins: 0-5 the sync chain, 6 "Password Rotation", 7 "Rotation Pilot")
NON_USER_MEMBERS: tuple[tuple[OtherKind, str, int], ...] = (
    ("device", "LAPTOP-SCOPE01", 0),
    ("servicePrincipal", "Scope Reporting App", 0),
    ("orgContact", "Pat Partner", 0),
    ("device", "KIOSK-TIER3", 3),
    ("servicePrincipal", "Tier Five Automation", 5),
    ("orgContact", "Sam Supplier", 5),
    ("device", "LAPTOP-ROTATION", 6),
    ("servicePrincipal", "Rotation Audit App", 6),
    ("orgContact", "Robin Contractor", 7),
)


def _non_user_members(rng: random.Random, groups: list[Group]) -> list[DirectoryObject]:
    """Devices, service principals and contacts in the sync tree and the rotation pair, at every size. Drawn from
    their own random stream, so users, groups and memberships stay what the seed always made."""
    objects = []
    for kind, name, index in NON_USER_MEMBERS:
        oid = guid(rng)
        objects.append(DirectoryObject(id=oid, kind=kind, props=object_props(kind, oid, name, rng)))
        groups[index].links[oid] = Link(kind, 1)
    return objects


def _build_groups(rng: random.Random, users: list[User]) -> tuple[list[Group], Group, Group]:
    """Sync chain (6 levels), rotation pair, department and project groups as a DAG; returns (all, sync, rotation)."""
    chain = [_group(rng, "Connector Sync Scope", "Users the connector synchronises")]
    chain += [_group(rng, f"Sync Tier {level}") for level in range(1, 6)]
    for parent, child in itertools.pairwise(chain):
        _link(parent, child.id, "group")
    rotation = _group(rng, "Password Rotation", "Accounts whose passwords the connector rotates")
    pilot = _group(rng, "Rotation Pilot")
    _link(rotation, pilot.id, "group")
    small = len(users) <= 200
    dept_names = names.DEPARTMENTS[:4] if small else names.DEPARTMENTS
    depts = {name: _group(rng, f"Dept {name}") for name in dept_names}
    dept_list = list(depts.values())
    _link(dept_list[0], dept_list[-1].id, "group")  # a department nested in another (DAG edge)
    projects = [_group(rng, f"Project {i:04d}") for i in range(0 if small else len(users) // 100)]
    for j in range(1, len(projects)):  # parent index < child index: cycle free
        if rng.random() < 0.3:
            _link(projects[rng.randrange(j)], projects[j].id, "group")
    in_scope: list[User] = []
    out_scope: list[User] = []
    for user in users:
        if rng.random() < 0.85:
            level = 0 if rng.random() < 0.3 else 1 + rng.randrange(5)
            _link(chain[level], user.id, "user")
            in_scope.append(user)
        else:
            out_scope.append(user)
        dept = depts.get(user.props["department"])
        if dept is not None:
            _link(dept, user.id, "user")
        if projects and rng.random() < 0.7:
            _link(projects[rng.randrange(len(projects))], user.id, "user")
    # Rotation: mostly in scope, a few outside; make sure on-prem, disabled and privileged users are among them.
    count = max(6, len(users) // 10)
    members = rng.sample(in_scope, min(count, len(in_scope))) + out_scope[:2]
    if members:
        specials = members[: min(3, len(in_scope))] or members[:3]  # the sample comes first: in scope
        specials[0].props["onPremisesSyncEnabled"] = True
        if len(specials) > 1:
            specials[1].props["accountEnabled"] = False
        if len(specials) > 2 and within_user_admin_reach(specials[2].roles):
            specials[2].roles = ("Global Administrator",)  # beyond a User Administrator's reset reach
    for index, user in enumerate(members):
        _link(rotation if index % 2 == 0 else pilot, user.id, "user")
    groups = [*chain, rotation, pilot, *dept_list, *projects]
    if len(users) >= BIG_GROUP_THRESHOLD:
        everyone = _group(rng, "All Staff")
        for user in users:
            _link(everyone, user.id, "user")
        groups.append(everyone)
    return groups, chain[0], rotation


def _app_with_credentials(
    rng: random.Random,
    name: str,
    kind: str,
    cert: Certificate,
    home: str | None,
    now: float,
    permissions: tuple[str, ...],
    redirect_uris: list[str],
) -> App:
    app = App(
        client_id=guid(rng),
        name=name,
        multi_tenant=home is None,
        home_tenant=home,
        required_permissions=permissions,
        redirect_uris=list(redirect_uris),
        kind=kind,
    )
    app.secrets.append(Secret(key_id=guid(rng), value=secret_value(rng), end=now + TWO_YEARS))
    app.certificates.append(cert)
    return app


def _operator_apps(world: World, seed: str, cert_dir: Path, now: float, uris: list[str]) -> dict[str, App]:
    """The operator's multi-tenant app, registered once in each cloud (global, US Government, China): an app
    registration exists in one cloud only (Learn: "National cloud deployments")."""
    operators: dict[str, App] = {}
    for registry in REGISTRIES:
        suffix = "" if registry == "global" else f"|{registry}"  # the global app stays what the seed always made
        operator = _app_with_credentials(
            random.Random(f"{seed}|operator{suffix}"),
            "Entra Connector (multi-tenant)" if registry == "global" else f"Entra Connector ({registry})",
            "multi_tenant",
            make_certificate(f"entra-connector-operator{suffix}", cert_dir / f"operator-app{suffix[1:]}.pem"),
            None,
            now,
            OPERATOR_PERMISSIONS,
            uris,
        )
        operator.cloud = registry
        operator.group_membership_claims = "DirectoryRole"  # its tokens list the signed-in admin's roles (`wids`)
        world.apps[operator.client_id] = operator
        operators[registry] = operator
    return operators


def seed_world(
    world: World,
    seed: str,
    size: int,
    tenant_count: int,
    cert_dir: Path,
    redirect_uris: list[str] | None = None,
    clouds: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Fill `world` with tenants and apps; return the description tests and the demo read. `clouds`: the cloud of
    each tenant by index (global for those not named)."""
    now = world.clock.now()
    world.seed = seed
    uris = redirect_uris or [DEFAULT_REDIRECT_URI]
    for name in clouds or ():
        cloud_info(name)  # ValueError naming the clouds
    operators = _operator_apps(world, seed, cert_dir, now, uris)
    described: list[dict[str, Any]] = []
    for k in range(tenant_count):
        rng = random.Random(f"{seed}|{size}|tenant{k}")
        tid = guid(rng)
        word = names.TENANT_WORDS[k % len(names.TENANT_WORDS)]
        suffix = f"{rng.getrandbits(24):06x}"
        tenant = Tenant(
            id=tid,
            display_name=f"{word.capitalize()} {suffix}",
            domains=[f"{word}-{suffix}.onmicrosoft.com", f"{word}-{suffix}.example.com"],
            cloud=(clouds or [])[k] if k < len(clouds or []) else "global",
        )
        users = [_user(rng, i, tenant.domains[1]) for i in range(size)]
        groups, sync, rotation = _build_groups(rng, users)
        objects = _non_user_members(random.Random(f"{seed}|{size}|tenant{k}|non-user members"), groups)
        admin = _tenant_admin(random.Random(f"{seed}|{size}|tenant{k}|admin"), tenant)
        tenant.directory.load([*users, admin], groups, objects)
        tenant.admin_user_id = admin.id
        admin.password = seeded_admin_password(seed, tid)  # for the sign-in page (control: get_password)
        tenant.sync_group_id, tenant.rotation_group_id = sync.id, rotation.id
        customer = _app_with_credentials(
            rng,
            f"{tenant.display_name} directory reader",
            "customer",
            make_certificate(f"customer-{k}", cert_dir / f"tenant{k}-customer-app.pem"),
            tid,
            now,
            CUSTOMER_PERMISSIONS,
            uris,
        )
        expired = Secret(key_id=guid(rng), value=secret_value(rng), end=now - 86400.0, hint="expired")
        customer.secrets.append(expired)
        identity = _app_with_credentials(
            rng,
            "Connector identity (managed identity stand-in)",
            "connector_identity",
            make_certificate(f"identity-{k}", cert_dir / f"tenant{k}-identity-app.pem"),
            tid,
            now,
            (),
            [],
        )
        for app in (customer, identity):
            app.cloud = tenant.registry  # registered in the tenant's own cloud
            world.apps[app.client_id] = app
            tenant.service_principals[app.client_id] = ServicePrincipal(
                id=guid(rng),
                client_id=app.client_id,
                permissions=set(app.required_permissions),
                directory_roles={USER_ADMIN} if app is customer else set(),  # app-only resets need a role
                consented_at=now - 86400.0,
            )
        for operator in operators.values():  # the seeded admins assign it after consent
            tenant.sp_roles_on_consent[operator.client_id] = {USER_ADMIN}
        world.tenants[tid] = tenant
        described.append(
            describe_tenant(world, tenant, [operators[tenant.registry], customer, identity], expired.value)
        )
    return described


def describe_tenant(world: World, tenant: Tenant, apps: list[App], expired_secret: str) -> dict[str, Any]:
    sync = tenant.directory.groups[tenant.sync_group_id]
    rotation = tenant.directory.groups[tenant.rotation_group_id]
    admin = tenant.directory.users[tenant.admin_user_id].props
    app_rows = []
    for app in apps:
        sp = tenant.service_principals.get(app.client_id)
        app_rows.append(
            {
                "kind": app.kind,
                "name": app.name,
                "client_id": app.client_id,
                "client_secret": app.secrets[0].value,
                **({"expired_client_secret": expired_secret} if app.kind == "customer" else {}),
                "certificate_path": app.certificates[0].path,
                "consented_permissions": sorted(sp.permissions) if sp else [],
                "requested_permissions": list(app.required_permissions),
                "redirect_uris": list(app.redirect_uris),
                "group_membership_claims": app.group_membership_claims,
            }
        )
    return {
        "id": tenant.id,
        "cloud": tenant.cloud,
        "display_name": tenant.display_name,
        "domains": list(tenant.domains),
        "user_count": len(tenant.directory.users),
        "group_count": len(tenant.directory.groups),
        "sync_group": {"id": sync.id, "name": sync.props["displayName"]},
        "rotation_group": {"id": rotation.id, "name": rotation.props["displayName"]},
        "admin": {"id": tenant.admin_user_id, "user_principal_name": admin["userPrincipalName"]},
        "apps": app_rows,
    }
