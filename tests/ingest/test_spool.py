from ingest.spool import DurableSpool


def test_batches_come_back_oldest_first_and_survive_a_new_instance(tmp_path):
    spool = DurableSpool(tmp_path)
    spool.append(["a 1", "b 2"])
    spool.append(["c 3"])
    reopened = DurableSpool(tmp_path)
    assert reopened.pending_points == 3 and len(reopened) == 2
    assert [lines for _, lines in reopened.batches()] == [["a 1", "b 2"], ["c 3"]]
    path, lines = next(reopened.batches())
    reopened.remove(path, len(lines))
    assert reopened.pending_points == 1
    reopened.append(["d 4"])  # numbering continues after the newest file
    assert [lines for _, lines in reopened.batches()] == [["c 3"], ["d 4"]]


def test_a_half_written_batch_from_a_crash_is_discarded(tmp_path):
    (tmp_path / "000000000001.tmp").write_text("partial")
    spool = DurableSpool(tmp_path)
    assert len(spool) == 0 and not list(tmp_path.glob("*.tmp"))
