"""``segur-ris mss send|acks`` and ``segur-ris xdm build|read``, end to end on the sandbox."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from segur_ris.cli import _mss, _xdm
from segur_ris.errors import SegurError
from segur_ris.sandbox import TestPki
from tests import mssante_a_fixtures as a
from tests.conftest import ref_file
from tests.mssante_b_fixtures import INS, PS, SENDER, TOKEN, sandbox

PATIENT = f"{INS}@patient.mssante.fr"
ORU = (
    "hl7/ansforge_hl7V2-exemples/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/"
    "ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
)


def run(argv: list[str]) -> int:
    """What ``segur_ris.cli.main`` does once the lead registers ``mss`` and ``xdm``."""
    parser = argparse.ArgumentParser(prog="segur-ris")
    sub = parser.add_subparsers(dest="command")
    _mss.register(sub)
    _xdm.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except SegurError as exc:
        print(f"segur-ris: erreur: {exc}", file=sys.stderr)
        return 1


def output(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


@pytest.fixture()
def cda(tmp_path: Path) -> Path:
    path = tmp_path / "cri.xml"
    path.write_bytes(a.cda_n1())
    return path


def test_module_top_level_stays_light() -> None:
    for module in (_mss, _xdm):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        top = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert all(
            line.startswith(
                ("from __future__", "from segur_ris.cli._output", "from segur_ris.errors")
            )
            or line.split()[1].split(".")[0] in sys.stdlib_module_names
            for line in top
        ), top


def test_xdm_build_and_read(tmp_path: Path, cda: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "IHE_XDM.zip"
    assert run(["xdm", "build", str(cda), "-o", str(archive), "--recipient", PS, "--json"]) == 0
    assert output(capsys)["documents"] == 1
    extract = tmp_path / "docs"
    assert run(["xdm", "read", str(archive), "--json", "--extract", str(extract)]) == 0
    shown = output(capsys)
    (document,) = shown["documents"]
    assert document["sha1"] == hashlib.sha1(a.cda_n1()).hexdigest()
    assert document["size"] == len(a.cda_n1())
    assert shown["submission_set"]["patient_id"].startswith(INS)
    assert shown["submission_set"]["intended_recipients"]
    assert (extract / Path(document["name"]).name).read_bytes() == a.cda_n1()
    assert run(["xdm", "read", str(archive)]) == 0
    assert "SHA-1" in capsys.readouterr().out


def test_xdm_hostile_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = tmp_path / "hostile.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")
        archive.writestr("../evil.txt", b"pwned")
    hostile.write_bytes(buffer.getvalue())
    extract = tmp_path / "out"
    assert run(["xdm", "read", str(hostile), "--extract", str(extract)]) == 1
    assert "erreur" in capsys.readouterr().err
    assert not extract.exists() and not (tmp_path / "evil.txt").exists()
    two = [tmp_path / "a.xml", tmp_path / "b.xml"]
    two[0].write_bytes(a.cda_n1())
    two[1].write_bytes(a.other_patient_cda())
    out = tmp_path / "two.zip"
    assert run(["xdm", "build", *map(str, two), "-o", str(out)]) == 1
    assert not out.exists()
    assert run(["xdm", "read", str(tmp_path / "missing.zip")]) == 1


def test_send_then_acks_on_the_sandbox(
    tmp_path: Path, cda: Path, capsys: pytest.CaptureFixture[str], ref_dir: Path
) -> None:
    state = tmp_path / "state"
    argv = ["mss", "send", str(cda), "--to", PS, "--patient", "--ack", "--json"]
    assert run([*argv, "--sandbox-dir", str(state)]) == 0
    sent = output(capsys)
    assert set(sent["accepted"]) == {PS, PATIENT} and sent["dsn_requested"]
    acks = {(x["kind"], x["status"], x["recipient"]) for x in sent["acks"]}
    assert acks == {
        ("dsn", "delivered", PS),
        ("dsn", "delivered", PATIENT),
        ("mdn", "processed", PATIENT),
    }
    assert all(x["original_message_id"] == sent["message_id"] for x in sent["acks"])
    (received,) = (state / "received").glob("*.eml")
    from segur_ris.mssante._mail import read_mail

    mail = read_mail(received.read_bytes())
    assert mail.message_id == sent["message_id"] and mail.xdm is not None
    assert mail.xdm.documents[0].content == a.cda_n1()

    oru = ref_file(ref_dir, ORU)
    assert run(["mss", "acks", "--sandbox-dir", str(state), "--json", "--hl7", str(oru)]) == 0
    read = output(capsys)
    assert len(read["acks"]) == 3 and read["rejected"] == []
    assert all(x["zam"].startswith("MSH|") and "ZAM" in x["zam"] for x in read["acks"])
    assert run(["mss", "acks", "--sandbox-dir", str(state), "--json"]) == 0
    assert output(capsys)["acks"] == []  # marked seen by the first reading
    assert run(["mss", "acks", "--sandbox-dir", str(state)]) == 0
    assert "aucun accusé" in capsys.readouterr().out


def test_send_without_state_and_plain_output(cda: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["mss", "send", str(cda), "--to", PS]) == 0
    assert f"à {PS}" in capsys.readouterr().out
    assert run(["mss", "acks", "--json"]) == 0  # a fresh sandbox: nothing to read
    assert output(capsys) == {"acks": [], "rejected": []}


def test_send_bad_input_nothing_sent(
    tmp_path: Path, cda: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    other = tmp_path / "other.xml"
    other.write_bytes(a.other_patient_cda())
    n3 = tmp_path / "n3.xml"
    n3.write_bytes(a.cda_n3())
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * 19_000_000)  # 25.3 MB once in base64
    cases = [
        [str(cda), str(other), "--to", PS],  # two patients
        [str(n3), "--to", PS],  # level 3 without its PDF copy
        [str(cda), "--pdf", str(big), "--patient"],  # not a PDF/A, and > 25 MB for MES
        [str(cda), "--to", "pas-une-adresse"],
        [str(cda), "--to", "123@patient.mssante.fr"],  # not an INS
    ]
    for case in cases:
        assert run(["mss", "send", *case, "--sandbox-dir", str(state)]) == 1, case
        assert "erreur" in capsys.readouterr().err
    assert not (state / "received").exists()


def test_real_endpoint_options_checked(cda: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["mss", "send", str(cda), "--to", PS, "--smtp", "127.0.0.1:1"]) == 1
    assert "--nil" in capsys.readouterr().err
    argv = ["mss", "send", str(cda), "--to", PS, "--smtp", "127.0.0.1:1", "--nil", "X"]
    assert run(argv) == 1
    assert "--from" in capsys.readouterr().err
    assert run(["mss", "acks", "--imap", "127.0.0.1:1", "--from", PS]) == 1
    assert "--ca" in capsys.readouterr().err


def test_configured_endpoints(
    pki: TestPki,
    cda: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--smtp/--imap against a running sandbox: certificate to send, XOAUTH2 token to read."""
    monkeypatch.setenv("SEGUR_RIS_TEST_PSC_TOKEN", TOKEN)
    client = pki.clients["AUTRE"]
    with sandbox(pki) as box:
        common = ["--from", SENDER, "--ca", str(pki.ca_cert), "--json"]
        argv = ["mss", "send", str(cda), "--to", PS, "--nil", a.NIL, "--ack", "--wait", "5"]
        tls = ["--cert", str(client.cert), "--key", str(client.key)]
        smtp = ["--smtp", f"127.0.0.1:{box.smtp_port}", "--imap", f"127.0.0.1:{box.imap_port}"]
        assert run([*argv, *common, *tls, *smtp]) == 0
        sent = output(capsys)
        assert [x["kind"] for x in sent["acks"]] == ["dsn"]
        assert box.submissions[-1].client_cn == client.cn
        imap = ["--imap", f"127.0.0.1:{box.imap_port}", "--token-env", "SEGUR_RIS_TEST_PSC_TOKEN"]
        assert run(["mss", "acks", *common, *imap]) == 0
        (ack,) = output(capsys)["acks"]
        assert ack["original_message_id"] == sent["message_id"] and ack["success"]


def test_send_to_a_patient_address_given_with_to(
    tmp_path: Path, cda: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--to <INS>@patient.mssante.fr`` without ``--patient``: the identity comes from the CDA
    all the same, and the address must be that patient's."""
    assert run(["mss", "send", str(cda), "--to", PATIENT, "--ack", "--json"]) == 0
    sent = output(capsys)
    assert sent["accepted"] == [PATIENT]
    assert ("mdn", "processed") in {(x["kind"], x["status"]) for x in sent["acks"]}
    from segur_ris.ins import compute_key

    other = "1850275056123" + compute_key("1850275056123")  # a valid INS, someone else's
    state = tmp_path / "state"
    argv = ["mss", "send", str(cda), "--to", f"{other}@patient.mssante.fr"]
    assert run([*argv, "--sandbox-dir", str(state)]) == 1
    assert "erreur" in capsys.readouterr().err
    assert not (state / "received").exists()


def test_xdm_read_extract_refuses_bad_targets(
    tmp_path: Path, cda: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "IHE_XDM.zip"
    assert run(["xdm", "build", str(cda), "-o", str(archive)]) == 0
    capsys.readouterr()
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    assert run(["xdm", "read", str(archive), "--extract", str(a_file)]) == 1
    assert "--extract" in capsys.readouterr().err
    # two subsets holding the same file name: extracting them flat would overwrite one
    with zipfile.ZipFile(archive) as source:
        entries = [(n, source.read(n)) for n in source.namelist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, content in entries:
            target.writestr(name, content)
            if name.startswith("IHE_XDM/"):
                target.writestr(name.replace("SUBSET01", "SUBSET02"), content)
    twice = tmp_path / "twice.zip"
    twice.write_bytes(buffer.getvalue())
    out = tmp_path / "out"
    assert run(["xdm", "read", str(twice), "--extract", str(out)]) == 1
    assert "double" in capsys.readouterr().err
    assert not out.exists()
