"""The application runs are offline: inside scripts/test-apps' network namespace, only
loopback exists, so no connection an application attempts can leave the machine."""

import os
import socket

import pytest
from conftest import offline


def test_only_loopback_is_reachable():
    if os.environ.get("LMRELAY_APPS_NETNS") != "1":
        pytest.skip("not inside scripts/test-apps' network namespace")
    assert offline()
    interfaces = [name for _, name in socket.if_nameindex()]
    assert interfaces == ["lo"], interfaces
