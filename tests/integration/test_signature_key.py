"""Where the signature key comes from, and that a database copied without it reveals nothing (issue 10).

The key is ``$KELIU_SIGNATURE_KEY`` (base64), else the file ``$KELIU_SIGNATURE_KEY_FILE`` (outside the
data directory in production; never created by keliu), else ``KELIU_HOME/signature.key``
(keliu.store.crypto, docs/setup.md). The CLI test runs the real `keliu staff enrol`/`staff list`
(real appearance model, real person crops) and copies the SQLite file as a thief would.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keliu.domain.visits import Signature, StaffMember
from keliu.store import SignatureKeyError, open_store
from keliu.store.crypto import generate_key, load_signature_key, pack_signatures

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("keliu_home")]

SITE = "s1"


def _signature(seed: int) -> Signature:
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=256).astype(np.float32)
    return Signature(
        embedding=embedding / np.linalg.norm(embedding),
        colour=rng.random(24).astype(np.float32),
        upper_colour="red",
        lower_colour="black",
        shots=2,
    )


def _key_file(path: Path, key: bytes, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base64.b64encode(key).decode() + "\n", encoding="ascii")
    os.chmod(path, mode)
    return path


# ------------------------------------------------------------------------------------ key sources


def test_key_file_outside_the_data_directory_is_used_and_nothing_is_written_beside_the_db(
    keliu_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    key_file = _key_file(tmp_path / "secrets" / "keliu.key", key, 0o400)
    monkeypatch.setenv("KELIU_SIGNATURE_KEY_FILE", str(key_file))
    assert load_signature_key() == key
    member = StaffMember("e1", "Zhang", (_signature(1),))
    with open_store() as store:
        store.upsert_site(SITE, "Showroom")
        store.enrol_staff(SITE, member)
    assert not (keliu_home / "signature.key").exists()
    with open_store(key=key) as store:  # the same key given directly reads it back
        assert (
            store.staff(SITE)[0].signatures[0].embedding.tobytes() == member.signatures[0].embedding.tobytes()
        )


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("missing", r"keliu\.key \(\$KELIU_SIGNATURE_KEY_FILE\) does not exist; create one with: "),
        (
            "malformed",
            r"keliu\.key \(\$KELIU_SIGNATURE_KEY_FILE\) must hold the base64 encoding of exactly 32",
        ),
        ("short", r"must hold the base64 encoding of exactly 32 bytes"),
        ("exposed", r"readable by group or others \(mode 0644\); restrict it with: chmod 600 "),
        ("directory", r"keliu\.key \(\$KELIU_SIGNATURE_KEY_FILE\) is not a file$"),
        ("both", r"both \$KELIU_SIGNATURE_KEY and \$KELIU_SIGNATURE_KEY_FILE are set; set only one"),
        ("env malformed", r"\$KELIU_SIGNATURE_KEY must hold the base64 encoding of exactly 32 bytes"),
    ],
)
def test_a_bad_key_is_one_clear_error_and_no_key_is_made_up(
    setup: str, needle: str, keliu_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secrets" / "keliu.key"
    if setup == "malformed":
        path.parent.mkdir()
        path.write_text("this is not base64!\n", encoding="ascii")
        path.chmod(0o600)
    elif setup == "short":
        _key_file(path, b"sixteen byte key")
    elif setup == "exposed":
        _key_file(path, generate_key(), 0o644)
    elif setup == "directory":
        path.mkdir(parents=True)
    elif setup == "both":
        _key_file(path, generate_key())
        monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(generate_key()).decode())
    elif setup == "env malformed":
        monkeypatch.setenv("KELIU_SIGNATURE_KEY", "c2hvcnQ=")
    if setup != "env malformed":
        monkeypatch.setenv("KELIU_SIGNATURE_KEY_FILE", str(path))
    with pytest.raises(SignatureKeyError, match=needle) as error:
        load_signature_key()
    assert "\n" not in str(error.value)
    assert not (keliu_home / "signature.key").exists()
    if setup == "missing":
        assert not path.exists()  # a configured file is never created (an unmounted secret, a typo)


def test_the_suggested_command_makes_a_key_keliu_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keliu.store.crypto import MAKE_KEY_HINT

    path = tmp_path / "signature.key"
    subprocess.run(["bash", "-c", MAKE_KEY_HINT.format(path=path)], check=True)
    monkeypatch.setenv("KELIU_SIGNATURE_KEY_FILE", str(path))
    assert len(load_signature_key()) == 32


# -------------------------------------------------------------------------- a copied database alone


def test_a_database_copied_without_its_key_reveals_no_signature(
    keliu_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    monkeypatch.setenv("KELIU_SIGNATURE_KEY_FILE", str(_key_file(tmp_path / "etc" / "signature.key", key)))
    member = StaffMember("e1", "Zhang", (_signature(1), _signature(2)))
    with open_store() as store:
        store.upsert_site(SITE, "Showroom")
        store.enrol_staff(SITE, member)

    stolen = tmp_path / "stolen" / "keliu.db"
    stolen.parent.mkdir()
    shutil.copy(keliu_home / "keliu.db", stolen)
    with sqlite3.connect(stolen) as conn:
        (blob,) = conn.execute("SELECT signatures FROM staff").fetchone()
    plain = pack_signatures(member.signatures)
    assert len(blob) > 64
    for start in range(0, len(plain) - 16, 16):  # no 16-byte run of the plaintext is in the file
        assert plain[start : start + 16] not in stolen.read_bytes()

    monkeypatch.delenv("KELIU_SIGNATURE_KEY_FILE")
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "thief-home"))
    with (
        open_store(f"sqlite:///{stolen}") as store,
        pytest.raises(SignatureKeyError, match="cannot decrypt a stored staff signature"),
    ):
        store.staff(SITE)  # a fresh key is made in the thief's KELIU_HOME: it opens nothing
    with (
        open_store(f"sqlite:///{stolen}", key=generate_key()) as store,
        pytest.raises(SignatureKeyError, match="cannot decrypt"),
    ):
        store.staff(SITE)
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(key).decode())  # the owner's key, by env
    with open_store(f"sqlite:///{stolen}") as store:
        assert len(store.staff(SITE)[0].signatures) == 2


def test_cli_with_the_key_outside_the_data_directory(
    keliu_home: Path, tmp_path: Path, shared_data: Path, embedder_model: Path
) -> None:
    """`keliu staff enrol` with $KELIU_SIGNATURE_KEY_FILE; the copied keliu.db alone fails with one line."""
    keliu_home.mkdir(parents=True)
    (keliu_home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    crops = tmp_path / "crops"
    crops.mkdir()
    for name in sorted(os.listdir(shared_data / "reid" / "images"))[:2]:
        shutil.copy(shared_data / "reid" / "images" / name, crops / name)
    key = generate_key()
    key_file = _key_file(tmp_path / "etc" / "keliu" / "signature.key", key)
    with open_store() as store:  # KELIU_HOME/keliu.db, no key needed to create a site
        store.upsert_site(SITE, "Showroom")
    base = {k: v for k, v in os.environ.items() if not k.startswith("KELIU_SIGNATURE_KEY")}
    keliu = [sys.executable, "-m", "keliu.cli"]

    def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*keliu, *args], env={**base, **env}, capture_output=True, text=True, check=False, timeout=300
        )

    enrol = run(
        ["staff", "enrol", "--site", SITE, "--name", "Sales uniform", "--images", str(crops)],
        KELIU_HOME=str(keliu_home),
        KELIU_SIGNATURE_KEY_FILE=str(key_file),
    )
    assert enrol.returncode == 0, enrol.stderr
    assert sorted(p.name for p in keliu_home.iterdir() if p.name != "models") <= [
        "keliu.db",
        "keliu.db-shm",
        "keliu.db-wal",
    ]

    copy = tmp_path / "copy" / "keliu.db"
    copy.parent.mkdir()
    shutil.copy(keliu_home / "keliu.db", copy)
    db = f"sqlite:///{copy}"
    thief_home = str(tmp_path / "thief-home")
    denied = run(["staff", "list", "--site", SITE, "--db", db], KELIU_HOME=thief_home)
    assert denied.returncode == 2
    assert denied.stdout == ""
    assert denied.stderr.startswith("keliu: error: cannot decrypt a stored staff signature")
    assert denied.stderr.count("\n") == 1 and "Traceback" not in denied.stderr

    for env in (
        {"KELIU_SIGNATURE_KEY": base64.b64encode(key).decode()},
        {"KELIU_SIGNATURE_KEY_FILE": str(key_file)},
    ):
        allowed = run(["staff", "list", "--site", SITE, "--db", db], KELIU_HOME=thief_home, **env)
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.startswith("Sales uniform\tSales uniform\t2 signature(s)"), allowed.stdout

    both = run(
        ["staff", "list", "--site", SITE, "--db", db],
        KELIU_HOME=thief_home,
        KELIU_SIGNATURE_KEY=base64.b64encode(key).decode(),
        KELIU_SIGNATURE_KEY_FILE=str(key_file),
    )
    assert both.returncode == 2 and both.stderr.count("\n") == 1, both.stderr
    assert "set only one" in both.stderr
