"""The agent reaches AD only over TLS with the DC's certificate checked, and says clearly why a bind fails."""

from __future__ import annotations

import ldap3
import pytest

from agent.ad_reader import dc_identity
from agent.errors import LdapBindError, LdapConfigError, LdapError
from agent.ldap_conn import Directory, result_error
from tests.ad.conftest import agent_settings
from tests.support.samba import SambaDC


def test_ldaps_with_the_trusted_ca_binds_and_reads_the_dc_identity(samba_dc: SambaDC) -> None:
    with Directory(agent_settings(samba_dc)) as directory:
        dc = dc_identity(directory)
    assert dc["host"].lower() == samba_dc.server_name.lower()
    assert len(dc["invocation_id"]) == 36 and dc["highest_usn"] > 0


def test_starttls_on_389_binds(samba_dc: SambaDC) -> None:
    with Directory(agent_settings(samba_dc, transport="starttls")) as directory:
        assert dc_identity(directory)["highest_usn"] > 0


def test_a_dc_certificate_from_an_untrusted_ca_is_refused(samba_dc: SambaDC) -> None:
    with pytest.raises(LdapError, match="cannot reach") as caught:
        Directory(agent_settings(samba_dc, ca_file=None)).__enter__()
    assert samba_dc.admin_password not in str(caught.value)


def test_a_certificate_for_another_name_is_refused(samba_dc: SambaDC) -> None:
    with pytest.raises(LdapError, match="doesn't match"):
        Directory(agent_settings(samba_dc, server_name="dc9.other.example")).__enter__()


def test_plain_ldap_is_refused_before_any_password_is_sent(samba_dc: SambaDC) -> None:
    with pytest.raises(LdapConfigError, match="strongerAuthRequired") as caught:
        Directory(agent_settings(samba_dc, transport="plain"))
    assert caught.value.code == "transport"


def test_the_dc_refuses_a_simple_bind_in_clear_and_the_agent_names_the_fix(samba_dc: SambaDC) -> None:
    """What AD (and Samba) answer a simple bind on plain 389; the agent's mapping of that very answer."""
    conn = ldap3.Connection(
        ldap3.Server(samba_dc.host, port=389, get_info=ldap3.NONE), samba_dc.admin_user, samba_dc.admin_password
    )
    assert not conn.bind()
    error = result_error(conn.result, "bind")
    conn.unbind()
    assert isinstance(error, LdapBindError) and error.code == "strongerAuthRequired"
    assert "ldaps or starttls" in error.message


def test_a_wrong_password_is_a_bind_error_without_the_password(samba_dc: SambaDC) -> None:
    wrong = "Not-The-Pass-9!"
    with pytest.raises(LdapBindError) as caught:
        Directory(agent_settings(samba_dc, password=wrong)).__enter__()
    assert caught.value.code == "invalidCredentials"
    assert wrong not in str(caught.value) and samba_dc.admin_password not in str(caught.value)


def test_page_size_above_windows_max_page_size_is_refused() -> None:
    from agent.ldap_conn import LdapSettings

    with pytest.raises(LdapConfigError, match="MaxPageSize"):
        LdapSettings("h", "DC=x", "u", "p", page_size=5000).check()
