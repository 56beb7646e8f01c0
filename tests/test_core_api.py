"""The public core surface: one error class, one version table, one of each constant."""

from __future__ import annotations

import importlib

import pytest

import streamcore
import streamcore.aio.server as aio_server
import streamcore.client as client
import streamcore.era as era
import streamcore.server as server


def test_one_mcp_error_class() -> None:
    """streamcore.McpError is the class the server seam, the client and streamcore.server use."""
    assert streamcore.McpError is server.McpError is aio_server.McpError is client.McpError


def test_mcp_error_fields() -> None:
    """McpError keeps code, message and data; a wrong field type is a LocalProtocolError."""
    e = streamcore.McpError(-32602, "bad", {"x": 1})
    assert (e.code, e.message, e.data, e.http_status) == (-32602, "bad", {"x": 1}, None)
    assert "-32602" in str(e)
    with pytest.raises(streamcore.LocalProtocolError):
        streamcore.McpError("-32602", "bad")  # type: ignore[arg-type]
    with pytest.raises(streamcore.LocalProtocolError):
        streamcore.McpError(True, "bad")
    with pytest.raises(streamcore.LocalProtocolError):
        streamcore.McpError(-1, b"bad")  # type: ignore[arg-type]


def test_one_version_table() -> None:
    """Server, classifier and client read the same revisions."""
    assert server.SUPPORTED_VERSIONS == era.LEGACY_VERSIONS
    assert set(client.SUPPORTED_VERSIONS) >= set(era.LEGACY_VERSIONS)
    assert era.MODERN_VERSIONS == ("2026-07-28",)
    assert server.LATEST_VERSION == era.LEGACY_VERSIONS[-1]


def test_one_definition_of_shared_constants() -> None:
    """DEFAULT_MAX_HEAD_SIZE and SUBSCRIPTION_ID are single objects wherever they are exported."""
    import streamcore.http11 as http11

    assert client.SUBSCRIPTION_ID == "io.modelcontextprotocol/subscriptionId"
    assert http11.DEFAULT_MAX_HEAD_SIZE == 64 * 1024
    for mod in ("streamcore.aio.server", "streamcore.aio.client"):
        m = importlib.import_module(mod)
        assert m.DEFAULT_MAX_HEAD_SIZE is http11.DEFAULT_MAX_HEAD_SIZE  # type: ignore[attr-defined]


def test_package_reexports_the_main_names() -> None:
    """streamcore re-exports the main names, the same objects as the public modules."""
    assert streamcore.Server is server.Server and streamcore.ServerConfig is server.ServerConfig
    assert streamcore.ModernConfig is server.ModernConfig
    assert streamcore.MODERN_VERSIONS == era.MODERN_VERSIONS and streamcore.LEGACY_VERSIONS == era.LEGACY_VERSIONS
    with pytest.raises(AttributeError):
        streamcore.NoSuchName  # noqa: B018
