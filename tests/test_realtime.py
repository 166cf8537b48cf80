"""celestialclass.realtime (watch): files taken only when complete, a log that loses nothing and repeats nothing."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from celestialclass import CelestialClassifier
from celestialclass.exceptions import CelestialClassError, InputError
from celestialclass.simulate import write_example_raw
from celestialclass.realtime import FITS_BLOCK, FileKey, ResultsLog, file_is_complete, watch


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return write_example_raw(tmp_path_factory.mktemp("watch-src") / "jexampl5q_raw.fits")


@pytest.fixture(scope="module")
def classifier():
    return CelestialClassifier(device="cpu", batch_size=1)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_watch(directory, classifier, *, until, timeout=60, **kwargs):
    """Rows of a watch in a thread, stopped once ``until(rows)`` holds (or after ``timeout`` s)."""
    stop, rows = threading.Event(), []

    def collect():
        for row in watch(directory, classifier=classifier, stop=stop, **kwargs):
            rows.append(row)
            if until(rows):
                stop.set()

    thread = threading.Thread(target=collect)
    thread.start()
    return thread, stop, rows


def test_a_file_is_complete_only_when_whole(example, tmp_path):
    data = example.read_bytes()
    assert file_is_complete(example) == (True, "")
    # every way a writer can be part-way: mid-block, at a block boundary, at an HDU boundary
    for cut in (100, FITS_BLOCK, 5 * FITS_BLOCK, len(data) // 3, len(data) // 2, len(data) - FITS_BLOCK,
                len(data) - 1):
        part = tmp_path / "part_raw.fits"
        part.write_bytes(data[:cut])
        complete, reason = file_is_complete(part)
        assert not complete and reason, cut
    empty = tmp_path / "empty_raw.fits"
    empty.write_bytes(b"")
    assert file_is_complete(empty) == (False, "empty")
    # a file that can never become FITS is taken (its reading then says what is wrong)
    garbage = tmp_path / "garbage_raw.fits"
    garbage.write_bytes(b"this is no FITS file" * 200)
    assert file_is_complete(garbage)[0]


def test_results_log_resumes_and_drops_a_cut_tail(tmp_path):
    path = tmp_path / "log.jsonl"
    log = ResultsLog(path)
    two = [{"source": "a", "hdu": h, "file_size": 1, "file_mtime": 2, "file_rows": 2} for h in (1, 4)]
    log.append(two)
    log.append([{"source": "b", "hdu": 1, "file_size": 3, "file_mtime": 4, "file_rows": 1}])
    whole = path.read_bytes()
    assert ResultsLog(path).done_keys() == {FileKey("a", 1, 2), FileKey("b", 3, 4)}
    # a crash in the middle of a line: that file is done again
    first_file = whole[:whole.index(b"\n", whole.index(b"\n") + 1) + 1]
    path.write_bytes(whole[:-5])
    assert ResultsLog(path).done_keys() == {FileKey("a", 1, 2)} and path.read_bytes() == first_file
    # a crash between a file's two rows: that file is done again
    path.write_bytes(whole[:whole.index(b"\n") + 1])
    assert ResultsLog(path).done_keys() == set() and path.read_bytes() == b""
    with pytest.raises(InputError, match=r"\.jsonl or \.ecsv"):
        ResultsLog(tmp_path / "log.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(CelestialClassError, match="is not a JSON object"):
        ResultsLog(bad)


def test_once_classifies_logs_and_skips_on_restart(example, classifier, tmp_path):
    landing = tmp_path / "in"
    landing.mkdir()
    for name in ("ja0000aaq_raw.fits", "ja0000abq_raw.fits"):
        shutil.copy(example, landing / name)
    (landing / "notes.txt").write_text("not a raw file name")
    before = {p.name: (_sha(p), p.stat().st_mtime_ns) for p in landing.iterdir()}
    for suffix in (".jsonl", ".ecsv"):
        log = tmp_path / f"results{suffix}"
        rows = list(watch(landing, once=True, output=log, classifier=classifier))
        assert [(os.path.basename(r["source"]), r["hdu"]) for r in rows] == [
            ("ja0000aaq_raw.fits", 1), ("ja0000aaq_raw.fits", 4), ("ja0000abq_raw.fits", 1),
            ("ja0000abq_raw.fits", 4)]
        assert all(r["label"] in ("galaxy", "nsc") and not r["error"] for r in rows)
        for r in rows:  # the split adds up to no more than the latency
            assert r["file_rows"] == 2 and r["latency_ms"] >= r["wait_ms"] >= 0
            assert r["read_ms"] > 0 and r["preprocess_ms"] > 0 and r["forward_ms"] > 0
        assert list(watch(landing, once=True, output=log, classifier=classifier)) == []
        assert len(ResultsLog(log)) == 4
        if suffix == ".jsonl":
            assert [json.loads(line)["hdu"] for line in log.read_text().splitlines()] == [1, 4, 1, 4]
        else:
            from astropy.table import Table

            table = Table.read(log)
            assert len(table) == 4 and table["latency_ms"].description
    # a file that changes is a new file
    os.utime(landing / "ja0000abq_raw.fits", ns=(time.time_ns(), time.time_ns()))
    again = list(watch(landing, once=True, output=tmp_path / "results.jsonl", classifier=classifier))
    assert {os.path.basename(r["source"]) for r in again} == {"ja0000abq_raw.fits"}
    before["ja0000abq_raw.fits"] = (before["ja0000abq_raw.fits"][0],
                                    (landing / "ja0000abq_raw.fits").stat().st_mtime_ns)
    assert {p.name: (_sha(p), p.stat().st_mtime_ns) for p in landing.iterdir()} == before  # only read


def test_slow_renamed_and_corrupt_files_as_they_land(example, classifier, tmp_path):
    landing = tmp_path / "in"
    landing.mkdir()
    data = example.read_bytes()
    thread, stop, rows = _run_watch(landing, classifier, hdu=4, until=lambda rows: len(rows) >= 3)
    time.sleep(1.0)
    with open(landing / "jslow01q_raw.fits", "wb") as handle:  # written slowly, in pieces
        step = len(data) // 7 + 1
        for start in range(0, len(data), step):
            handle.write(data[start:start + step])
            handle.flush()
            time.sleep(0.3)
    (landing / ".jrenm01q.part").write_bytes(data)  # written elsewhere, then renamed into place
    os.rename(landing / ".jrenm01q.part", landing / "jrenm01q_raw.fits")
    (landing / "jcorr01q_raw.fits").write_bytes(b"no FITS here " * 500)
    thread.join(timeout=60)
    stop.set()
    assert not thread.is_alive()
    by_name = {os.path.basename(r["source"]): r for r in rows}
    assert set(by_name) == {"jslow01q_raw.fits", "jrenm01q_raw.fits", "jcorr01q_raw.fits"}
    assert by_name["jslow01q_raw.fits"]["label"] in ("galaxy", "nsc") and not by_name["jslow01q_raw.fits"]["error"]
    assert by_name["jrenm01q_raw.fits"]["label"] in ("galaxy", "nsc")
    assert "FITS" in by_name["jcorr01q_raw.fits"]["error"] and by_name["jcorr01q_raw.fits"]["label"] == ""


def test_an_incomplete_file_gets_an_error_row_then_is_retried(example, classifier, tmp_path):
    landing = tmp_path / "in"
    landing.mkdir()
    data = example.read_bytes()
    target = landing / "jhalf01q_raw.fits"
    target.write_bytes(data[:len(data) // 2])
    thread, stop, rows = _run_watch(landing, classifier, hdu=4, incomplete_timeout=0.5, poll=0.2,
                                    output=tmp_path / "log.jsonl", until=lambda rows: len(rows) >= 2)
    deadline = time.time() + 30
    while not rows and time.time() < deadline:
        time.sleep(0.1)
    assert rows and "still incomplete" in rows[0]["error"] and "NEXTEND" in rows[0]["error"]
    with open(target, "ab") as handle:  # the writer finishes
        handle.write(data[len(data) // 2:])
    thread.join(timeout=60)
    stop.set()
    assert len(rows) == 2 and rows[1]["label"] in ("galaxy", "nsc") and not rows[1]["error"]
    assert rows[1]["file_size"] == len(data)


def test_bad_arguments_are_said(tmp_path, classifier):
    with pytest.raises(InputError, match="not a directory"):
        next(watch(tmp_path / "nowhere", classifier=classifier))
    for poll in (-1, 0, float("nan"), True):  # polling with no pause would spin on a core
        with pytest.raises(InputError, match="poll must be a number of seconds >= 0.01"):
            next(watch(tmp_path, poll=poll, classifier=classifier))


def _cli(*args):
    return [sys.executable, "-m", "celestialclass.cli", "watch", *map(str, args)]


def _wait_for_lines(path, n, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def test_kill_9_and_restart_logs_every_file_exactly_once(example, tmp_path):
    landing, log = tmp_path / "in", tmp_path / "log.jsonl"
    landing.mkdir()
    names = [f"jkill{i:02d}q_raw.fits" for i in range(5)]
    for name in names[:3]:
        shutil.copy(example, landing / name)
    for lines in (1, 4):  # killed early, then again after more work; files land while it is down
        process = subprocess.Popen(_cli(landing, "--output", log), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            _wait_for_lines(log, lines)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        shutil.copy(example, landing / names[3 if lines == 1 else 4])
    done = subprocess.run(_cli(landing, "--output", log, "--once"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    chips = sorted((os.path.basename(r["source"]), r["hdu"]) for r in rows)
    assert chips == sorted((name, hdu) for name in names for hdu in (1, 4))
    assert all(r["label"] in ("galaxy", "nsc") for r in rows)


def test_sigterm_finishes_the_file_and_exits_0(example, tmp_path):
    landing, log = tmp_path / "in", tmp_path / "log.jsonl"
    landing.mkdir()
    for i in range(3):
        shutil.copy(example, landing / f"jterm{i:02d}q_raw.fits")
    process = subprocess.Popen(_cli(landing, "--output", log), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for_lines(log, 1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "SIGTERM: finishing the current file" in err
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) % 2 == 0 and len(rows) >= 2  # whole files only
    assert out.count("\n") == len(rows)


def test_cli_errors_are_said_not_raised(tmp_path, capsys):
    from celestialclass.cli import main

    assert main(["watch", str(tmp_path / "nowhere"), "--once"]) == 1
    assert "not a directory to watch" in capsys.readouterr().err
    assert main(["watch", str(tmp_path), "--once", "--output", str(tmp_path / "log.txt")]) == 1
    assert "must end in .jsonl or .ecsv" in capsys.readouterr().err
    assert main(["watch", str(tmp_path), "--once"]) == 0
    assert "0 chips" in capsys.readouterr().err
    (tmp_path / "jbad02q_raw.fits").write_bytes(b"no FITS here " * 500)
    assert main(["watch", str(tmp_path), "--once"]) == 1  # --once fails when a file did
    out = capsys.readouterr().out
    assert out.startswith("error: ") and out.count("jbad02q_raw.fits") == 1  # the file named once


def test_warm_up_takes_the_whole_road_and_leaves_nothing(classifier, tmp_path, monkeypatch):
    """Before following, a watch classifies an example file: the chips' arrays exist before the first
    real file, and the example is gone; a warm-up that cannot write is skipped, not fatal."""
    import tempfile

    from celestialclass.realtime import _warm_up
    from celestialclass.utils.buffers import ArrayPool

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(classifier, "_images", ArrayPool(2))
    _warm_up(classifier)
    assert len(classifier._images) >= 1 and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    _warm_up(classifier)  # no temporary directory: logged and skipped
