"""Test PKI and kubeconfigs for the test API server, made with the openssl command."""

import base64
import os
import secrets
import shutil
import subprocess
import tempfile

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(args, cwd):
    result = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]), result.stderr.strip()))


def _make_ca(directory, name, cn):
    _openssl(["req", "-x509"] + EC + [
        "-keyout", name + ".key", "-out", name + ".crt", "-days", "3650", "-subj", "/CN=" + cn,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)


def _make_leaf(directory, name, subject, extensions):
    ext_file = name + ".ext"
    with open(os.path.join(directory, ext_file), "w") as f:
        f.write("\n".join(extensions) + "\n")
    _openssl(["req", "-new"] + EC + ["-keyout", name + ".key", "-out", name + ".csr", "-subj", subject], directory)
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-set_serial", "0x" + secrets.token_hex(8), "-days", "3650",
              "-out", name + ".crt", "-extfile", ext_file], directory)
    os.remove(os.path.join(directory, name + ".csr"))
    os.remove(os.path.join(directory, ext_file))


PKI_FILES = ["ca.crt", "ca.key", "other-ca.crt", "other-ca.key", "server.crt", "server.key", "client.crt", "client.key"]


def make_pki(directory, cache=None):
    """ca.crt/key, server.crt/key (127.0.0.1, localhost, ::1), client.crt/key (CN ipsyncd-test),
    other-ca.crt/key (an unrelated CA for wrong-CA tests) and a fresh bearer token in `token`.
    With `cache`, the certificates are made once into cache/pki and copied from there (many test
    servers in one test run then share one CA, each with its own token)."""
    os.makedirs(directory, exist_ok=True)
    if cache:
        source = os.path.join(cache, "pki")
        if not os.path.exists(os.path.join(source, "client.key")):
            os.makedirs(cache, exist_ok=True)
            scratch = tempfile.mkdtemp(dir=cache)
            _make_certificates(scratch)
            try:
                os.rename(scratch, source)  # atomic: a server starting in parallel may win, which is fine
            except OSError:
                shutil.rmtree(scratch, ignore_errors=True)
        for name in PKI_FILES:
            shutil.copyfile(os.path.join(source, name), os.path.join(directory, name))
    else:
        _make_certificates(directory)
    token = secrets.token_urlsafe(24)
    with open(os.path.join(directory, "token"), "w") as f:
        f.write(token + "\n")
    return token


def _make_certificates(directory):
    _make_ca(directory, "ca", "ipsyncd-test-ca")
    _make_ca(directory, "other-ca", "ipsyncd-other-ca")
    _make_leaf(directory, "server", "/CN=127.0.0.1", [
        "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:::1",
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth"])
    _make_leaf(directory, "client", "/O=system:masters/CN=ipsyncd-test", [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=clientAuth"])


def _kubeconfig(server, namespace, cluster_lines, user_lines):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: test", "  cluster:",
             "    server: " + server]
    lines += ["    " + line for line in cluster_lines]
    lines += ["users:", "- name: test-user", "  user:"]
    lines += ["    " + line for line in user_lines]
    lines += ["contexts:", "- name: test", "  context:", "    cluster: test", "    user: test-user",
              "    namespace: " + namespace, "current-context: test", ""]
    return "\n".join(lines)


def write_kubeconfigs(directory, server, namespace, token, plain):
    """kubeconfig-cert.yaml: client cert and key by relative paths, CA by absolute path.
    kubeconfig-token.yaml: token inline, CA inline as certificate-authority-data.
    With a plain-HTTP server only the token kubeconfig makes sense; the cert one then also uses the token."""
    with open(os.path.join(directory, "ca.crt"), "rb") as f:
        ca_data = base64.b64encode(f.read()).decode()
    if plain:
        token_cfg = _kubeconfig(server, namespace, [], ["token: " + token])
        cert_cfg = token_cfg
    else:
        cert_cfg = _kubeconfig(server, namespace,
                               ["certificate-authority: " + os.path.join(os.path.abspath(directory), "ca.crt")],
                               ["client-certificate: client.crt", "client-key: client.key"])
        token_cfg = _kubeconfig(server, namespace, ["certificate-authority-data: " + ca_data],
                                ["token: " + token])
    with open(os.path.join(directory, "kubeconfig-cert.yaml"), "w") as f:
        f.write(cert_cfg)
    with open(os.path.join(directory, "kubeconfig-token.yaml"), "w") as f:
        f.write(token_cfg)
