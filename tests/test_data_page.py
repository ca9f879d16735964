"""The Data page's import under the real Streamlit runtime (issue 18, item 8): an import clears the uploader, so a
second press of Import cannot import the same files again; a refusal shows its summary and its reason apart; the
import log says what happened to a file whose kind was never known, never "None"."""

from __future__ import annotations

from dashboard import store

CLIENTS = ("clients.csv", b"client_id,site\nC1,North\nC2,South\n", "text/csv")
UNKNOWN = ("junk.csv", b"foo,bar\n1,2\n", "text/csv")  # no column the contract knows: refused, kind never known
E_MAIL = ("vals.csv", b"client_id,site\nC3,jane@example.com\n", "text/csv")  # an identifier in line 2, column site


def _import(at, files):
    at.file_uploader[0].set_value(files).run()
    [button] = [b for b in at.button if b.label == "Import"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _log(db) -> list[tuple]:
    con = store.connect(db, read_only=True)
    try:
        return con.execute("select file_name, status from import_log order by import_id").fetchall()
    finally:
        con.close()


def test_an_import_clears_the_uploader_so_import_cannot_run_twice(clinic_db, data_page):
    at = _import(data_page(), CLIENTS)
    assert any("2 imported, 0 rejected" in s.value for s in at.success), [x.value for x in [*at.error, *at.success]]
    # pressing Import again (if it is still offered) must not import the files a second time
    for again in [b for b in at.button if b.label == "Import"]:
        again.click().run()
    assert _log(clinic_db) == [("clients.csv", "imported")]
    assert not at.file_uploader[0].value, "the uploader still holds the imported file"
    at.run()
    assert _log(clinic_db) == [("clients.csv", "imported")]


def test_a_refusal_shows_the_summary_then_the_reason(clinic_db, data_page):
    at = _import(data_page(), [UNKNOWN, E_MAIL])
    boxes = {e.value.split("\\:")[0]: e.value for e in at.error}
    assert set(boxes) == {"junk.csv", "vals.csv"}, boxes
    for name, reason in (("junk.csv", "cannot tell what kind of file this is"), ("vals.csv", "line 2, column 'site'")):
        # the summary is the first paragraph, the reason a list item of its own below it
        summary, _, rest = boxes[name].partition("\n\n")
        assert summary.startswith(f"{name}\\:") and "refused" in summary and "rejected" in summary, boxes[name]
        assert reason not in summary, boxes[name]
        assert rest.startswith("- ") and reason in rest, boxes[name]


def test_the_import_log_says_what_happened_to_a_file_of_unknown_kind(clinic_db, data_page):
    at = _import(data_page(), [CLIENTS, UNKNOWN])
    [log] = [d.value for d in at.dataframe if "import_id" in d.value.columns]
    kinds = dict(zip(log.file_name, log.kind, strict=True))
    assert kinds == {"clients.csv": "clients", "junk.csv": "unknown (file refused)"}, kinds
