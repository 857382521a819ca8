"""baresip (a real softphone) against `tongdai run --demo`: registers as agent 1001 with digest,
calls the 9196 test number, the call is established, and it un-registers on exit."""

from __future__ import annotations

import json
import socket
import subprocess
import time

from tests.conftest import free_port


def baresip_config(d, ext: str, password: str, server_port: int) -> None:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(d / "tone.wav"), "synth", "4", "sine", "440"],
                   check=True, timeout=30)
    (d / "config").write_text(
        "module_path /usr/lib/baresip/modules\n"
        f"sip_listen 127.0.0.1:{free_port(socket.SOCK_DGRAM)}\nsip_transports udp\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{d / 'tone.wav'}\naudio_player aufile,{d / 'received.wav'}\naudio_alert aufile,/dev/null\n"
        "module g711.so\nmodule aufile.so\nmodule account.so\nmodule menu.so\n")
    (d / "accounts").write_text(f"<sip:{ext}@127.0.0.1:{server_port}>;auth_pass={password};regint=60;answermode=auto\n")


def test_given_baresip_as_agent_1001_then_it_registers_calls_9196_and_unregisters(running, tmp_path):
    baresip_config(tmp_path, "1001", "sip-demo-1001", running.sip_port)
    proc = subprocess.Popen(["baresip", "-f", str(tmp_path), "-e", f"/dial sip:9196@127.0.0.1:{running.sip_port}", "-t", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = running.workdir / "var" / "sip-registrations.json"
    seen_binding = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not seen_binding:
        seen_binding = state.exists() and any(k.endswith("/1001") for k in json.loads(state.read_text() or "{}"))
        time.sleep(0.1)
    out, _ = proc.communicate(timeout=30)
    assert "200 OK" in out and "1 binding" in out, out
    assert "Call established: sip:9196@" in out, out
    assert "terminated" in out, out
    assert seen_binding
    deadline = time.monotonic() + 5  # baresip un-registers when it quits
    while time.monotonic() < deadline and any(k.endswith("/1001") for k in json.loads(state.read_text() or "{}")):
        time.sleep(0.1)
    assert not any(k.endswith("/1001") for k in json.loads(state.read_text() or "{}"))


def test_given_baresip_with_wrong_password_then_not_registered(running, tmp_path):
    baresip_config(tmp_path, "1002", "wrong-password", running.sip_port)
    proc = subprocess.Popen(["baresip", "-f", str(tmp_path), "-t", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:  # once the source is banned, baresip waits long for answers that never come: stop it
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert "1 binding" not in out
    state = running.workdir / "var" / "sip-registrations.json"
    assert not any(k.endswith("/1002") for k in json.loads(state.read_text() or "{}") if state.exists())
