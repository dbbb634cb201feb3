"""Ansible connection plugin ``wsep.wsep.wsep``: run tasks through a wsep server."""

from __future__ import annotations

from wsep_client.ansible.connection import Connection

__all__ = ["DOCUMENTATION", "Connection"]

DOCUMENTATION = r"""
name: wsep
short_description: run tasks through a wsep server (command execution over WebSocket)
description:
  - Runs commands, and copies files, through the wsep server on the target host instead of SSH.
  - Commands run as the user the wsep server runs them as; C(remote_user) is not used.
    C(become) (sudo, su, ...) works as over SSH, where the server's policy allows it.
  - File transfers are streamed (never held in memory whole) and checked with SHA-256.
  - Failures to connect, refused tokens and dropped connections make the host unreachable;
    a command or transfer that fails makes the task fail.
author: wsep authors
version_added: "0.1.0"
requirements:
  - wsep-client (C(pip install wsep-client[ansible])) on the controller
extends_documentation_fragment:
  - connection_pipelining
options:
  remote_addr:
    description: Host of the wsep server (used when I(url) is not set).
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_wsep_host
  port:
    description: TCP port of the wsep server (used when I(url) is not set).
    type: int
    default: 8080
    vars:
      - name: ansible_port
      - name: ansible_wsep_port
    env:
      - name: ANSIBLE_WSEP_PORT
    ini:
      - section: wsep_connection
        key: port
  tls:
    description: Connect with wss:// (TLS) when I(url) is not set.
    type: bool
    default: false
    vars:
      - name: ansible_wsep_tls
    env:
      - name: ANSIBLE_WSEP_TLS
    ini:
      - section: wsep_connection
        key: tls
  path:
    description: URL path of the server's WebSocket endpoint (used when I(url) is not set).
    type: str
    default: /
    vars:
      - name: ansible_wsep_path
    env:
      - name: ANSIBLE_WSEP_PATH
    ini:
      - section: wsep_connection
        key: path
  url:
    description:
      - The server's full ws:// or wss:// URL.
      - Overrides I(remote_addr), I(port), I(tls) and I(path).
    type: str
    vars:
      - name: ansible_wsep_url
  token:
    description: Bearer token for the server.
    type: str
    vars:
      - name: ansible_wsep_token
    env:
      - name: ANSIBLE_WSEP_TOKEN
  token_file:
    description: File holding the bearer token (used when I(token) is not set).
    type: path
    vars:
      - name: ansible_wsep_token_file
    env:
      - name: ANSIBLE_WSEP_TOKEN_FILE
    ini:
      - section: wsep_connection
        key: token_file
  cafile:
    description: PEM file of the CA(s) to trust for wss:// (default, the system's).
    type: path
    vars:
      - name: ansible_wsep_cafile
    env:
      - name: ANSIBLE_WSEP_CAFILE
    ini:
      - section: wsep_connection
        key: cafile
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
    vars:
      - name: ansible_wsep_validate_certs
    env:
      - name: ANSIBLE_WSEP_VALIDATE_CERTS
    ini:
      - section: wsep_connection
        key: validate_certs
  client_cert:
    description: PEM client certificate to present (with I(client_key), or a combined file).
    type: path
    vars:
      - name: ansible_wsep_client_cert
    env:
      - name: ANSIBLE_WSEP_CLIENT_CERT
    ini:
      - section: wsep_connection
        key: client_cert
  client_key:
    description: PEM private key of I(client_cert).
    type: path
    vars:
      - name: ansible_wsep_client_key
    env:
      - name: ANSIBLE_WSEP_CLIENT_KEY
    ini:
      - section: wsep_connection
        key: client_key
  timeout:
    description: Seconds to wait for the connection and for a started command's pid.
    type: int
    default: 10
    vars:
      - name: ansible_wsep_timeout
    env:
      - name: ANSIBLE_TIMEOUT
    ini:
      - section: defaults
        key: timeout
  command_timeout:
    description: Seconds one command may run before it is ended (0, no limit).
    type: int
    default: 0
    vars:
      - name: ansible_wsep_command_timeout
    env:
      - name: ANSIBLE_WSEP_COMMAND_TIMEOUT
    ini:
      - section: wsep_connection
        key: command_timeout
"""
